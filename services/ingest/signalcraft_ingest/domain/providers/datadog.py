"""Datadog: the Webhooks integration, default or custom payload template. See
shared/fixtures/SIGNATURES.md, "Datadog".

Datadog signs nothing; it sends the custom headers configured on the webhook, or HTTP basic
credentials from `https://user:pass@host/...`. The body is whatever template the webhook has; every
`$VARIABLE` arrives rendered as a string. The integration says where each NormalizedAlert field is
found with the `mapping` option; the built-in mapping reads Datadog's default template
(`{"body": "$EVENT_MSG", "last_updated": ..., "event_type": ..., "title": "$EVENT_TITLE", "date": "$DATE",
"org": {...}, "id": "$ID"}`).

What the default template lacks is read from the event title, which Datadog renders as
`[P1] [Triggered on {host:a,env:prod}] Monitor name` (priority and scope optional):
  * status from the transition word: Recovered -> resolved; Triggered, Re-Triggered, Warn, Re-Warn,
    No Data, Re-No Data, Renotify -> firing;
  * severity from the priority (P1 critical .. P5 info), else from the transition: Triggered /
    Re-Triggered / Renotify high, Warn / Re-Warn medium, No Data low, Recovered info;
  * fingerprint `monitor:<id>[:<scope>]`, the monitor id taken from the `monitors#<id>` link Datadog
    puts in $EVENT_MSG, else a hash of the monitor name and scope.
Test notifications (title `[TEST]`, body "Test notification triggered by ...") are marked is_test.
`%%%` markdown wrappers around $EVENT_MSG are stripped. Bodies sent with "Encode as form" are not
supported: leave that box unchecked.

Options:
  auth                 "header" (default): request header `header` must equal the secret;
                       "basic": `Authorization: Basic base64(user:pass)`, secret "user:pass".
  header               default "X-SignalCraft-Token".
  mapping              JSON object string: NormalizedAlert field -> payload key. Fields: title,
                       description, severity, status, fingerprint, project, environment,
                       source_event_id, link, occurred_at, tags. A key is a dotted path ("org.name";
                       list items by index, "items.0.id"); a list of paths joins their values with
                       ":" (e.g. "fingerprint": ["alert_id", "scope"]). Merged over the default mapping
                       {"title": "title", "description": "body", "source_event_id": "id",
                       "occurred_at": "date"}. `status` takes a transition word ($ALERT_TRANSITION),
                       `severity` a severity or priority word ($ALERT_TYPE: error/warning/info/success,
                       or $ALERT_PRIORITY), `tags` a "k:v,k2:v2" string ($TAGS), list or object,
                       `occurred_at` epoch milliseconds ($DATE), seconds or ISO-8601.
  default_project      project when neither `project` nor a `service:` tag gives one (else "unknown").
  default_environment  environment when neither `environment` nor an `env:` tag gives one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from signalcraft_schemas import AlertStatus, NormalizedAlert, Severity

from ..errors import UnsupportedPayload
from ..normalize import (
    MAX_DESCRIPTION_LENGTH, MAX_TAG_LENGTH, MAX_TAGS, MAX_TITLE_LENGTH, SEVERITY_WORDS, clip, normalize_environment,
    parse_time,
)
from ..verification import verify_authorization, verify_shared_secret
from .base import Integration, ParsedWebhook, ProviderContext, WebhookRequest
from .common import UNKNOWN_PROJECT, auth_mode, json_object

SOURCE = "datadog"
DEFAULT_TOKEN_HEADER = "X-SignalCraft-Token"
MAPPED_FIELDS = frozenset({
    "title", "description", "severity", "status", "fingerprint", "project", "environment", "source_event_id",
    "link", "occurred_at", "tags",
})
DEFAULT_MAPPING: Mapping[str, tuple[str, ...]] = {
    "title": ("title",), "description": ("body",), "source_event_id": ("id",), "occurred_at": ("date",),
}

RESOLVED_WORDS = {"recovered", "resolved", "ok", "success"}
TRANSITION_SEVERITY = {
    "triggered": Severity.HIGH, "re-triggered": Severity.HIGH, "renotify": Severity.HIGH,
    "warn": Severity.MEDIUM, "re-warn": Severity.MEDIUM,
    "no data": Severity.LOW, "re-no data": Severity.LOW,
    "recovered": Severity.INFO,
}
# $ALERT_TYPE sends "success" for recoveries, which the shared severity words do not know.
DATADOG_SEVERITY_WORDS = {**SEVERITY_WORDS, "success": Severity.INFO}

TITLE_PATTERN = re.compile(
    r"^(?:\[(?P<priority>P[1-5])\]\s*)?\[(?P<transition>[A-Za-z][A-Za-z -]*?)(?: on \{(?P<scope>[^}]*)\})?\]\s*(?P<name>.*)$",
    re.DOTALL,
)
MONITOR_ID_PATTERN = re.compile(r"/monitors(?:#|/)(\d+)")
MONITOR_STATUS_LINK = re.compile(r"\[\[Monitor Status\]\((https://[^)\s]+)\)\]")
UNRENDERED_VARIABLE = re.compile(r"^\$[A-Z][A-Z0-9_]*$")
MARKDOWN_WRAPPER = "%%%"
MILLISECONDS_THRESHOLD = 10**11  # epoch values above this are milliseconds ($DATE), below are seconds


class DatadogProvider:
    name = SOURCE

    async def authenticate(self, request: WebhookRequest, integration: Integration, context: ProviderContext) -> None:
        mode = auth_mode(integration, ("header", "basic"), "header")
        if mode == "basic":
            verify_authorization(request.header("authorization"), integration.secret, "basic")
            return
        header = integration.options.get("header", DEFAULT_TOKEN_HEADER)
        verify_shared_secret(request.header(header), integration.secret, header)

    def parse(self, request: WebhookRequest, integration: Integration) -> ParsedWebhook:
        payload = json_object(request)
        mapping = {**DEFAULT_MAPPING, **_custom_mapping(integration.options.get("mapping"))}
        return ParsedWebhook(alerts=[_alert(payload, mapping, request, integration)], delivery_key=None)

    def error_body(self, status: int, reason: str) -> Mapping[str, Any] | None:
        return None


@lru_cache(maxsize=256)
def _parse_mapping(raw: str) -> Mapping[str, tuple[str, ...]]:
    try:
        mapping = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UnsupportedPayload("integration option 'mapping' is not valid JSON") from None
    if not isinstance(mapping, dict):
        raise UnsupportedPayload("integration option 'mapping' must be a JSON object")
    parsed: dict[str, tuple[str, ...]] = {}
    for field_name, paths in mapping.items():
        if field_name not in MAPPED_FIELDS:
            raise UnsupportedPayload(f"integration option 'mapping': unknown field {field_name!r}")
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
            raise UnsupportedPayload(f"integration option 'mapping': {field_name!r} must be a path or a list of paths")
        parsed[field_name] = tuple(paths)
    return parsed


def _custom_mapping(raw: str | None) -> Mapping[str, tuple[str, ...]]:
    return _parse_mapping(raw) if raw else {}


def _lookup(payload: Any, path: str) -> Any:
    """The value at a dotted path ("org.name", "items.0.id"); None when any step is missing."""
    value = payload
    for step in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(step)
        elif isinstance(value, list) and re.fullmatch(r"[0-9]{1,9}", step) and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        rendered = str(value).strip()
        return rendered or None
    return None


def _field(payload: Mapping[str, Any], mapping: Mapping[str, tuple[str, ...]], name: str) -> str | None:
    """The mapped field as text; several paths join their non-empty values with ":"."""
    paths = mapping.get(name)
    if not paths:
        return None
    parts = [part for part in (_scalar(_lookup(payload, path)) for path in paths) if part]
    return ":".join(parts) or None


def _strip_markdown_wrapper(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith(MARKDOWN_WRAPPER):
        stripped = stripped[len(MARKDOWN_WRAPPER):]
    if stripped.endswith(MARKDOWN_WRAPPER):
        stripped = stripped[: -len(MARKDOWN_WRAPPER)]
    return stripped.strip()


def _tags(value: Any) -> dict[str, str]:
    """Datadog tags ("a:b,c:d,bare" string, list of "k:v", or an object) as a dict; repeated keys join with ","."""
    if isinstance(value, Mapping):
        items = [f"{key}:{item}" for key, item in value.items() if _scalar(item) is not None]
    elif isinstance(value, list):
        items = [item for item in value if isinstance(item, str)]
    elif isinstance(value, str):
        items = value.split(",")
    else:
        return {}
    tags: dict[str, str] = {}
    for item in items:
        key, _, tag_value = item.strip().partition(":")
        key = key.strip()
        if not key:
            continue
        if key in tags:
            tags[key] = clip(f"{tags[key]},{tag_value}", MAX_TAG_LENGTH)
        elif len(tags) < MAX_TAGS:
            tags[clip(key, MAX_TAG_LENGTH)] = clip(tag_value, MAX_TAG_LENGTH)
    return tags


def _time(value: str | None) -> datetime | None:
    """$DATE is epoch milliseconds as a string; also accept seconds and ISO-8601."""
    if value is None:
        return None
    if re.fullmatch(r"[0-9]{1,16}(\.[0-9]+)?", value):
        number = float(value)
        if number > MILLISECONDS_THRESHOLD:
            number /= 1000
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_time(value)


def _status(word: str | None) -> AlertStatus:
    if word is not None and (word.lower() in RESOLVED_WORDS or "recovered" in word.lower()):
        return AlertStatus.RESOLVED
    return AlertStatus.FIRING


def _severity(mapped: str | None, priority: str | None, transition: str | None, status: AlertStatus) -> Severity:
    for word in (mapped, priority):
        if word is not None and word.strip().lower() in DATADOG_SEVERITY_WORDS:
            return DATADOG_SEVERITY_WORDS[word.strip().lower()]
    if transition is not None:
        lowered = transition.lower()
        if lowered in TRANSITION_SEVERITY:
            return TRANSITION_SEVERITY[lowered]
        if "recovered" in lowered:
            return Severity.INFO
    return Severity.INFO if status is AlertStatus.RESOLVED else Severity.HIGH


def _alert(payload: Mapping[str, Any], mapping: Mapping[str, tuple[str, ...]], request: WebhookRequest,
           integration: Integration) -> NormalizedAlert:
    title = _field(payload, mapping, "title")
    if title is None:
        raise UnsupportedPayload("Datadog webhook: no title (check the integration's 'mapping' option)")
    if UNRENDERED_VARIABLE.match(title):
        raise UnsupportedPayload(f"Datadog webhook: title is the unrendered template variable {title}")
    parsed_title = TITLE_PATTERN.match(title)
    title_transition = parsed_title.group("transition") if parsed_title else None
    scope = (parsed_title.group("scope") or None) if parsed_title else None
    monitor_name = parsed_title.group("name") if parsed_title else title

    body = _field(payload, mapping, "description") or ""
    description = _strip_markdown_wrapper(body)
    transition = _field(payload, mapping, "status") or title_transition
    status = _status(transition)
    severity = _severity(_field(payload, mapping, "severity"),
                         parsed_title.group("priority") if parsed_title else None, transition, status)

    tags_paths = mapping.get("tags", ())
    tags: dict[str, str] = {}
    for path in tags_paths:
        tags.update(_tags(_lookup(payload, path)))
    if transition and len(tags) < MAX_TAGS:
        tags.setdefault("datadog.transition", clip(transition, MAX_TAG_LENGTH))

    monitor = MONITOR_ID_PATTERN.search(body)
    fingerprint = _field(payload, mapping, "fingerprint")
    if fingerprint is None:
        if monitor:
            fingerprint = f"monitor:{monitor.group(1)}" + (f":{scope}" if scope else "")
        else:
            fingerprint = "title:" + hashlib.sha256(f"{monitor_name}|{scope or ''}".encode()).hexdigest()[:32]

    occurred_raw = _field(payload, mapping, "occurred_at")
    occurred = _time(occurred_raw) or request.received_at
    source_event_id = (_field(payload, mapping, "source_event_id")
                       or f"{fingerprint}:{transition or 'event'}:{occurred_raw or occurred.isoformat()}")
    link = _field(payload, mapping, "link")
    if link is None and (status_link := MONITOR_STATUS_LINK.search(body)):
        link = status_link.group(1)
    project = (_field(payload, mapping, "project") or tags.get("service") or integration.options.get("default_project")
               or UNKNOWN_PROJECT)
    environment = (_field(payload, mapping, "environment") or tags.get("env")
                   or integration.options.get("default_environment"))
    is_test = "[TEST]" in title or "Test notification triggered by" in description
    return NormalizedAlert(
        source=SOURCE,
        source_event_id=clip(source_event_id, 500),
        project=clip(project, 200),
        environment=normalize_environment(environment),
        severity=severity,
        fingerprint=clip(fingerprint, 500),
        title=clip(title, MAX_TITLE_LENGTH),
        description=clip(description, MAX_DESCRIPTION_LENGTH),
        tags=tags,
        occurred_at=occurred,
        link=link,
        status=status,
        is_test=is_test,
    )

