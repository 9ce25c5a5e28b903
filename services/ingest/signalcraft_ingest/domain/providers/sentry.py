"""Sentry: integration-platform webhooks (issue, event_alert, metric_alert, error) and the legacy
WebHooks plugin. See shared/fixtures/SIGNATURES.md, "Sentry".

Authentication: `Sentry-Hook-Signature` (or the legacy `Sentry-App-Signature`) is HMAC-SHA256 of the
raw body with the integration's client secret, lower-case hex. The legacy plugin signs nothing, so it
must carry the secret as `?token=` in the webhook URL.

Replays: the signature covers the body and nothing fresh, and the Request-ID that names a delivery
is not signed. So besides the Request-ID, a delivery is recognised by the SHA-256 of its body: the
same body again within the replay window (SIGNALCRAFT_REPLAY_WINDOW_SECONDS, or the integration
option `replay_window_seconds`) is answered 200 "duplicate" and not stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit, parse_qsl, urlencode

from signalcraft_schemas import AlertStatus, NormalizedAlert, Severity

from ..errors import AuthenticationFailed, UnsupportedPayload
from ..normalize import (
    MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH, as_mapping, clean_tags, clip, normalize_environment,
    parse_time, require, severity_from_word,
)
from ..verification import signed_digest, verify_hex_signature, verify_shared_secret
from .base import Integration, ParsedWebhook, ProviderContext, WebhookRequest
from .common import json_object

SOURCE = "sentry"
SIGNATURE_HEADERS = ("sentry-hook-signature", "sentry-app-signature")
# Resources that describe something other than a problem: acknowledged, nothing to group.
NON_ALERT_RESOURCES = {"installation", "comment", "seer", "preprod_artifact"}
ISSUE_ACTIONS_FIRING = {"created", "unresolved"}
# Signals about the issue's group rather than new occurrences: an ignore (archive) snoozes it, until
# statusDetails.ignoreUntil or until unsnoozed; an assignment names its assignee.
ISSUE_ACTIONS_SNOOZING = {"ignored", "archived"}
ISSUE_ACTION_STATUS = {
    "resolved": AlertStatus.RESOLVED, "assigned": AlertStatus.ASSIGNED,
    **{action: AlertStatus.SNOOZED for action in ISSUE_ACTIONS_SNOOZING},
    **{action: AlertStatus.FIRING for action in ISSUE_ACTIONS_FIRING},
}


def sentry_severity(level: Any) -> Severity:
    """fatal->critical, error->high, warning->medium, info->low, debug->info."""
    return severity_from_word(level, default=Severity.HIGH)


class SentryProvider:
    name = SOURCE

    async def authenticate(self, request: WebhookRequest, integration: Integration, context: ProviderContext) -> None:
        signature = next((request.header(h) for h in SIGNATURE_HEADERS if request.header(h)), None)
        if signature is not None:
            verify_hex_signature(signature, integration.secret, request.body, "Sentry-Hook-Signature")
            return
        token = request.query.get("token")
        if token is None:
            raise AuthenticationFailed("missing Sentry-Hook-Signature (or ?token= for the legacy WebHooks plugin)")
        verify_shared_secret(token, integration.secret, "token")

    def parse(self, request: WebhookRequest, integration: Integration) -> ParsedWebhook:
        # The signature covers the body only; the Request-ID is not signed, so a captured body sent
        # again with a new id is recognised by the body's digest (replay_key) instead.
        delivery_key, replay_key = request.header("request-id"), signed_digest(request.body)
        if not request.body.strip():
            # Sentry sends signed empty bodies on some requests (SIGNATURES.md): nothing to store.
            return ParsedWebhook(alerts=[], delivery_key=delivery_key, note="empty body", replay_key=replay_key)
        payload = json_object(request)
        resource = (request.header("sentry-hook-resource") or _infer_resource(payload)).lower()
        if resource in NON_ALERT_RESOURCES:
            return ParsedWebhook(alerts=[], delivery_key=delivery_key, note=f"{resource} webhook",
                                 replay_key=replay_key)
        normalizer = _NORMALIZERS.get(resource)
        if normalizer is None:
            raise UnsupportedPayload(f"unsupported Sentry resource {resource!r}")
        alerts = normalizer(payload, request, integration)
        return ParsedWebhook(alerts=alerts, delivery_key=delivery_key, replay_key=replay_key)

    def error_body(self, status: int, reason: str) -> Mapping[str, Any] | None:
        return None


def _infer_resource(payload: Mapping[str, Any]) -> str:
    data = payload.get("data")
    if isinstance(data, Mapping):
        if "issue" in data:
            return "issue"
        if "metric_alert" in data:
            return "metric_alert"
        if "event" in data:
            return "event_alert"
        if "error" in data:
            return "error"
    if "project_name" in payload or ("event" in payload and "culprit" in payload):
        return "legacy_webhook"
    raise UnsupportedPayload("not a Sentry webhook: no data.issue, data.event, data.error, data.metric_alert or legacy plugin fields")


def _base_url(integration: Integration) -> str:
    return integration.options.get("sentry_url", "https://sentry.io").rstrip("/")


def _issue_link(issue: Mapping[str, Any], integration: Integration) -> str:
    for key in ("web_url", "permalink", "url"):
        value = issue.get(key)
        if isinstance(value, str) and value.startswith("http") and "/api/0/" not in value:
            return value
    org = integration.options.get("organization")
    if org:
        return f"{_base_url(integration)}/organizations/{org}/issues/{issue['id']}/"
    return f"{_base_url(integration)}/issues/{issue['id']}/"


def _environment(tags: Mapping[str, str], integration: Integration, explicit: Any = None) -> str:
    return normalize_environment(explicit or tags.get("environment") or integration.options.get("default_environment"))


def _normalize_issue(payload: Mapping[str, Any], request: WebhookRequest, integration: Integration) -> list[NormalizedAlert]:
    action = str(require(payload, "action", "Sentry issue webhook"))
    data = as_mapping(require(payload, "data", "Sentry issue webhook"), "data")
    issue = as_mapping(require(data, "issue", "Sentry issue webhook"), "data.issue")
    issue_id = str(require(issue, "id", "data.issue"))
    status = ISSUE_ACTION_STATUS.get(action)
    if status is None:
        raise UnsupportedPayload(f"unsupported Sentry issue action {action!r}")
    project = issue.get("project") if isinstance(issue.get("project"), Mapping) else {}
    project_slug = project.get("slug") or project.get("name") or integration.options.get("default_project")
    if not project_slug:
        raise UnsupportedPayload("data.issue: missing 'project.slug'")
    occurred = parse_time(issue.get("lastSeen")) or parse_time(issue.get("firstSeen")) or request.received_at
    tags = {"sentry.issue": issue.get("shortId") or issue_id}
    if issue.get("platform"):
        tags["platform"] = str(issue["platform"])
    if issue.get("substatus"):
        tags["sentry.substatus"] = str(issue["substatus"])
    return [
        NormalizedAlert(
            source=SOURCE,
            source_event_id=f"issue:{issue_id}:{action}:{issue.get('lastSeen') or ''}",
            project=str(project_slug),
            environment=_environment({}, integration),
            severity=sentry_severity(issue.get("level")),
            fingerprint=f"issue:{issue_id}",
            title=clip(issue.get("title") or issue.get("culprit") or f"Sentry issue {issue_id}", MAX_TITLE_LENGTH),
            description=clip(issue.get("culprit") or "", MAX_DESCRIPTION_LENGTH),
            tags=tags,
            occurred_at=occurred,
            link=_issue_link(issue, integration),
            status=status,
            snoozed_until=_ignore_until(issue) if status == AlertStatus.SNOOZED else None,
            assignee=_assignee(issue.get("assignedTo")) if status == AlertStatus.ASSIGNED else None,
        )
    ]


def _ignore_until(issue: Mapping[str, Any]) -> datetime | None:
    """An ignore's end (statusDetails.ignoreUntil); None: until unsnoozed (or a count/window condition
    SignalCraft cannot follow, which Sentry ends with an `unresolved` webhook)."""
    details = issue.get("statusDetails")
    return parse_time(details.get("ignoreUntil")) if isinstance(details, Mapping) else None


def _assignee(assigned: Any) -> str | None:
    """assignedTo: a user or team object (email, else name, else type:id), a plain name, or null."""
    if isinstance(assigned, str):
        return clip(assigned, 200) or None
    if not isinstance(assigned, Mapping):
        return None
    named = assigned.get("email") or assigned.get("name")
    if named:
        return clip(named, 200)
    return f"{assigned.get('type') or 'user'}:{assigned['id']}" if assigned.get("id") else None


_PROJECT_IN_URL = re.compile(r"/projects/([^/]+)/([^/]+)/")


def _event_alert(event: Mapping[str, Any], request: WebhookRequest, integration: Integration,
                 rule: str | None) -> NormalizedAlert:
    event_id = str(require(event, "event_id", "Sentry event"))
    tags = clean_tags(event.get("tags"))
    project_slug = None
    url = event.get("url")
    if isinstance(url, str) and (match := _PROJECT_IN_URL.search(url)):
        project_slug = match.group(2)
    project_slug = project_slug or tags.get("project") or integration.options.get("default_project") or str(
        event.get("project") or ""
    )
    if not project_slug:
        raise UnsupportedPayload("Sentry event: no project (url or project)")
    issue_id = event.get("issue_id") or event.get("group_id")
    parts = event.get("fingerprint") if isinstance(event.get("fingerprint"), list) and event.get("fingerprint") else [event_id]
    fingerprint = f"issue:{issue_id}" if issue_id else "fp:" + "/".join(map(str, parts))
    link = event.get("web_url") if isinstance(event.get("web_url"), str) else None
    if link is None and issue_id:
        link = _issue_link({"id": issue_id}, integration)
    if rule:
        tags["sentry.rule"] = clip(rule, 200)
    occurred = parse_time(event.get("datetime")) or parse_time(event.get("timestamp")) or request.received_at
    return NormalizedAlert(
        source=SOURCE,
        source_event_id=event_id,
        project=str(project_slug),
        environment=_environment(tags, integration),
        severity=sentry_severity(event.get("level")),
        fingerprint=fingerprint,
        title=clip(event.get("title") or event.get("message") or event.get("culprit") or f"Sentry event {event_id}",
                   MAX_TITLE_LENGTH),
        description=clip(event.get("culprit") or event.get("message") or "", MAX_DESCRIPTION_LENGTH),
        tags=tags,
        occurred_at=occurred,
        link=link,
    )


def _normalize_event_alert(payload: Mapping[str, Any], request: WebhookRequest, integration: Integration) -> list[NormalizedAlert]:
    data = as_mapping(require(payload, "data", "Sentry event_alert webhook"), "data")
    event = as_mapping(require(data, "event", "Sentry event_alert webhook"), "data.event")
    rule = data.get("triggered_rule")
    return [_event_alert(event, request, integration, rule if isinstance(rule, str) else None)]


def _normalize_error(payload: Mapping[str, Any], request: WebhookRequest, integration: Integration) -> list[NormalizedAlert]:
    data = as_mapping(require(payload, "data", "Sentry error webhook"), "data")
    error = as_mapping(require(data, "error", "Sentry error webhook"), "data.error")
    return [_event_alert(error, request, integration, None)]


_METRIC_ACTIONS = {"critical": Severity.CRITICAL, "warning": Severity.MEDIUM, "resolved": Severity.INFO}


def _normalize_metric_alert(payload: Mapping[str, Any], request: WebhookRequest, integration: Integration) -> list[NormalizedAlert]:
    action = str(require(payload, "action", "Sentry metric_alert webhook"))
    if action not in _METRIC_ACTIONS:
        raise UnsupportedPayload(f"unsupported Sentry metric_alert action {action!r}")
    data = as_mapping(require(payload, "data", "Sentry metric_alert webhook"), "data")
    incident = as_mapping(require(data, "metric_alert", "Sentry metric_alert webhook"), "data.metric_alert")
    rule = incident.get("alert_rule") if isinstance(incident.get("alert_rule"), Mapping) else {}
    rule_id = rule.get("id") or incident.get("identifier") or require(incident, "id", "data.metric_alert")
    projects = incident.get("projects") or rule.get("projects") or []
    projects = projects if isinstance(projects, list) else []
    project = projects[0] if projects and isinstance(projects[0], str) else integration.options.get("default_project")
    if not project:
        raise UnsupportedPayload("data.metric_alert: missing 'projects'")
    started = parse_time(incident.get("date_started")) or parse_time(incident.get("date_detected"))
    occurred = (parse_time(incident.get("date_closed")) if action == "resolved" else None) or started or request.received_at
    title = data.get("description_title") or rule.get("name") or incident.get("title") or f"Metric alert {rule_id}"
    tags = {"sentry.metric_alert": str(incident.get("identifier") or incident.get("id") or rule_id)}
    if rule.get("aggregate"):
        tags["aggregate"] = clip(rule["aggregate"], 200)
    return [
        NormalizedAlert(
            source=SOURCE,
            source_event_id=f"metric_alert:{incident.get('id') or rule_id}:{action}",
            project=str(project),
            environment=_environment({}, integration, rule.get("environment")),
            severity=_METRIC_ACTIONS[action],
            fingerprint=f"metric_alert:{rule_id}",
            title=clip(title, MAX_TITLE_LENGTH),
            description=clip(data.get("description_text") or "", MAX_DESCRIPTION_LENGTH),
            tags=tags,
            occurred_at=occurred,
            link=data.get("web_url") if isinstance(data.get("web_url"), str) else None,
            status=AlertStatus.RESOLVED if action == "resolved" else AlertStatus.FIRING,
        )
    ]


def _strip_referrer(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken IPv6 host: keep the link as sent
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "referrer"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _normalize_legacy(payload: Mapping[str, Any], request: WebhookRequest, integration: Integration) -> list[NormalizedAlert]:
    issue_id = str(require(payload, "id", "Sentry WebHooks plugin payload"))
    event = payload.get("event") if isinstance(payload.get("event"), Mapping) else {}
    tags = clean_tags(event.get("tags"))
    project = payload.get("project_slug") or payload.get("project") or payload.get("project_name")
    if not project:
        raise UnsupportedPayload("Sentry WebHooks plugin payload: missing 'project_slug'")
    occurred: datetime = parse_time(event.get("timestamp")) or parse_time(event.get("received")) or request.received_at
    url = payload.get("url")
    metadata = event.get("metadata") if isinstance(event.get("metadata"), Mapping) else {}
    title = event.get("title") or metadata.get("title") or payload.get("message") or payload.get("culprit")
    return [
        NormalizedAlert(
            source=SOURCE,
            source_event_id=str(event.get("event_id") or event.get("id") or issue_id),
            project=str(project),
            environment=_environment(tags, integration, event.get("environment")),
            severity=sentry_severity(payload.get("level") or event.get("level")),
            fingerprint=f"issue:{issue_id}",
            title=clip(title or f"Sentry issue {issue_id}", MAX_TITLE_LENGTH),
            description=clip(payload.get("culprit") or payload.get("message") or "", MAX_DESCRIPTION_LENGTH),
            tags=tags,
            occurred_at=occurred,
            link=_strip_referrer(url) if isinstance(url, str) else _issue_link({"id": issue_id}, integration),
        )
    ]


_NORMALIZERS = {
    "issue": _normalize_issue,
    "event_alert": _normalize_event_alert,
    "error": _normalize_error,
    "metric_alert": _normalize_metric_alert,
    "legacy_webhook": _normalize_legacy,
}
