"""PagerDuty Events API v2, inbound: anything that can page PagerDuty can send to us instead. See
shared/fixtures/SIGNATURES.md, "PagerDuty Events API v2".

There is no signature: the body's `routing_key` is the credential, compared in constant time with the
integration secret, and redacted from the body ingest stores. Served at
`/webhooks/pagerduty/<integration_id>` and at `/v2/enqueue`, where the HTTP layer finds the
integration by routing_key. Responses and errors use PagerDuty's shapes so
senders that read them (to learn a generated dedup_key, say) keep working.

`event_action`:
  trigger      -> firing; requires payload.summary, payload.source, payload.severity
                  (critical|error|warning|info -> critical|high|medium|low). Without a dedup_key one
                  is generated: the first 32 hex of sha256(body + received_at ISO time), returned in
                  the response as PagerDuty does.
  acknowledge  -> acknowledged; requires dedup_key.
  resolve      -> resolved; requires dedup_key.
fingerprint = dedup_key, and the group key is the dedup_key alone (`normalize.group_key_of`): a trigger
and the acknowledge or resolve for it land in the same group although the latter usually carry no
payload. The project is `payload.component`, else `payload.group`, else the integration's default,
else `payload.source`; the environment `payload.custom_details.environment` (or `env`), else the
integration's default. The
severity of an acknowledge or resolve is the payload's if sent, else info.

Options:
  default_project      the project when the payload names none (else "unknown").
  default_environment  the environment when the payload names none (else "unknown").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from signalcraft_schemas import AlertStatus, NormalizedAlert, Severity

from ..errors import UnsupportedPayload
from ..normalize import (
    MAX_DESCRIPTION_LENGTH, MAX_TAGS, MAX_TITLE_LENGTH, as_mapping, clean_tags, clip, normalize_environment, parse_time,
    severity_from_word,
)
from ..verification import verify_shared_secret
from .base import Integration, ParsedWebhook, ProviderContext, WebhookRequest
from .common import UNKNOWN_PROJECT, json_object, redacted_body

SOURCE = "pagerduty"
ACTION_STATUS = {
    "trigger": AlertStatus.FIRING, "acknowledge": AlertStatus.ACKNOWLEDGED, "resolve": AlertStatus.RESOLVED,
}
PAGERDUTY_SEVERITIES = {"critical", "error", "warning", "info"}
GENERATED_DEDUP_KEY_LENGTH = 32
MAX_DEDUP_KEY_LENGTH = 255  # PagerDuty's documented limit


def routing_key(payload: Mapping[str, Any]) -> str | None:
    """The body's routing_key if it is a non-empty string (the HTTP layer routes /v2/enqueue by it)."""
    key = payload.get("routing_key")
    return key if isinstance(key, str) and key else None


class PagerDutyProvider:
    name = SOURCE

    async def authenticate(self, request: WebhookRequest, integration: Integration, context: ProviderContext) -> None:
        verify_shared_secret(routing_key(json_object(request)), integration.secret, "routing_key")

    def parse(self, request: WebhookRequest, integration: Integration) -> ParsedWebhook:
        event = json_object(request)
        action = event.get("event_action")
        if not isinstance(action, str) or action not in ACTION_STATUS:
            raise UnsupportedPayload(f"event_action must be trigger, acknowledge or resolve, got {action!r}")
        dedup_key = event.get("dedup_key")
        if dedup_key is not None and not isinstance(dedup_key, str):
            raise UnsupportedPayload("dedup_key must be a string")
        if dedup_key and len(dedup_key) > MAX_DEDUP_KEY_LENGTH:
            raise UnsupportedPayload(f"dedup_key is longer than {MAX_DEDUP_KEY_LENGTH} characters")
        # This event, as received: names a trigger sent without dedup_key, and tells repeats apart.
        event_digest = hashlib.sha256(request.body + request.received_at.isoformat().encode()).hexdigest()
        if not dedup_key:
            if action != "trigger":
                raise UnsupportedPayload(f"dedup_key is required to {action}")
            dedup_key = event_digest[:GENERATED_DEDUP_KEY_LENGTH]
        alert = _alert(event, action, dedup_key, event_digest[:16], request, integration)
        return ParsedWebhook(
            alerts=[alert], delivery_key=None,
            response_body={"status": "success", "message": "Event processed", "dedup_key": dedup_key},
            stored_body=redacted_body(event, ("routing_key",)),  # the routing_key is the credential
        )

    def error_body(self, status: int, reason: str) -> Mapping[str, Any] | None:
        if status in (400, 422):
            return {"status": "Unrecognized object", "message": "Event object is invalid", "errors": [reason]}
        if status == 401:
            return {"status": "Invalid routing key", "message": "Event object is invalid", "errors": [reason]}
        return {"status": "error", "message": "Event could not be processed", "errors": [reason]}


def _required_text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise UnsupportedPayload(f"payload.{key} is required for a trigger")
    return value


def _first_link(event: Mapping[str, Any]) -> str | None:
    links = event.get("links")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and isinstance(link.get("href"), str) and link["href"].startswith("http"):
            return link["href"]
    client_url = event.get("client_url")
    return client_url if isinstance(client_url, str) and client_url.startswith("http") else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _project(payload: Mapping[str, Any], default: str | None) -> str | None:
    """The service the event is about: component, else group, else the integration's default project,
    else source (a host, at worst)."""
    named = [_text(payload.get("component")), _text(payload.get("group")), _text(default), _text(payload.get("source"))]
    return next((clip(v, 200) for v in named if v), None)


def _environment(details: Any) -> str | None:
    if not isinstance(details, Mapping):
        return None
    return _text(details.get("environment")) or _text(details.get("env"))


def _alert(event: Mapping[str, Any], action: str, dedup_key: str, event_hash: str, request: WebhookRequest,
           integration: Integration) -> NormalizedAlert:
    raw_payload = event.get("payload")
    if action == "trigger":
        payload = as_mapping(raw_payload, "payload (required for a trigger)")
        summary = _required_text(payload, "summary")
        _required_text(payload, "source")
        severity_word = _required_text(payload, "severity")
        if severity_word not in PAGERDUTY_SEVERITIES:
            raise UnsupportedPayload(f"payload.severity must be one of critical, error, warning, info, got {severity_word!r}")
        severity = severity_from_word(severity_word)
        title = summary
    else:
        payload = raw_payload if isinstance(raw_payload, Mapping) else {}
        sent = payload.get("severity")
        severity = severity_from_word(sent, default=Severity.INFO) if isinstance(sent, str) and sent in PAGERDUTY_SEVERITIES else Severity.INFO
        title = payload.get("summary") if isinstance(payload.get("summary"), str) and payload.get("summary") else (
            f"{action} {dedup_key}")
    tags = clean_tags({key: payload.get(key) for key in ("source", "component", "group", "class")})
    if isinstance(event.get("client"), str) and event["client"]:
        tags["client"] = clip(event["client"], 200)
    details = payload.get("custom_details")
    detail_tags = clean_tags({f"detail.{key}": value for key, value in details.items()}) if isinstance(
        details, Mapping) else {}
    for key, value in detail_tags.items():
        if len(tags) < MAX_TAGS:
            tags[key] = value
    description = "\n".join(f"{key[len('detail.'):]}: {value}" for key, value in detail_tags.items())
    occurred = parse_time(payload.get("timestamp")) or request.received_at
    return NormalizedAlert(
        source=SOURCE,
        source_event_id=f"{dedup_key}:{action}:{event_hash}",
        project=_project(payload, integration.options.get("default_project")) or UNKNOWN_PROJECT,
        environment=normalize_environment(_environment(details) or integration.options.get("default_environment")),
        severity=severity,
        fingerprint=dedup_key,
        title=clip(title, MAX_TITLE_LENGTH),
        description=clip(description, MAX_DESCRIPTION_LENGTH),
        tags=tags,
        occurred_at=occurred,
        link=_first_link(event),
        status=ACTION_STATUS[action],
    )
