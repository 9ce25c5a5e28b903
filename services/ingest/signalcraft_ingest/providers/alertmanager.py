"""Prometheus Alertmanager: the v4 `webhook_config` payload. See shared/fixtures/SIGNATURES.md,
"Prometheus Alertmanager".

Alertmanager signs nothing; the receiver is protected by `http_config` credentials, which arrive in
the `Authorization` header. One NormalizedAlert per entry of `alerts[]`, each with its own status:
a resolved alert inside a firing group resolves its own group only.

Options (all optional):
  auth                 "bearer" (default): `Authorization: Bearer <secret>`;
                       "basic": `Authorization: Basic base64(user:pass)`, secret is "user:pass";
                       "none": no credentials, the unguessable integration URL is the only guard.
  project_labels       comma-separated label names tried in order for the project;
                       default "service,job,namespace".
  environment_labels   comma-separated label names tried in order for the environment;
                       default "env,environment".
  default_project      project when no project label is present (else "unknown").
  default_environment  environment when no environment label is present (else "unknown").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from signalcraft_schemas import AlertStatus, NormalizedAlert, Severity

from ..domain.errors import AuthenticationFailed, UnsupportedPayload
from ..domain.normalize import (
    MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH, as_mapping, clean_tags, clip, normalize_environment, parse_time,
    severity_from_word,
)
from .base import Integration, ParsedWebhook, ProviderContext, WebhookRequest, json_object

SOURCE = "alertmanager"
UNKNOWN_PROJECT = "unknown"
DEFAULT_PROJECT_LABELS = "service,job,namespace"
DEFAULT_ENVIRONMENT_LABELS = "env,environment"
# Go's zero time.Time, which Alertmanager sends as endsAt while an alert is still firing.
GO_ZERO_TIME_YEAR = 1


def verify_authorization_header(request: WebhookRequest, integration: Integration, mode: str) -> None:
    """Check `Authorization` for mode "bearer" or "basic" against the integration secret, in constant time.

    Shared by the senders whose only credential is an HTTP Authorization header (Alertmanager,
    Grafana, Datadog). For "basic" the secret is "user:pass" and the whole decoded pair is compared.
    """
    header = request.header("authorization")
    if not header:
        raise AuthenticationFailed("missing Authorization header")
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if mode == "bearer":
        if scheme.lower() != "bearer" or not credentials:
            raise AuthenticationFailed("Authorization header is not 'Bearer <token>'")
        presented = credentials.encode()
    elif mode == "basic":
        if scheme.lower() != "basic" or not credentials:
            raise AuthenticationFailed("Authorization header is not 'Basic <base64(user:pass)>'")
        try:
            presented = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            raise AuthenticationFailed("Authorization Basic credentials are not valid base64") from None
    else:
        raise AuthenticationFailed(f"integration auth mode {mode!r} is not supported here")
    if not hmac.compare_digest(presented, integration.secret.encode()):
        raise AuthenticationFailed("Authorization credentials do not match")


def auth_mode(integration: Integration, allowed: tuple[str, ...], default: str) -> str:
    """The integration's `auth` option, lower-cased; AuthenticationFailed if it names no known mode."""
    mode = integration.options.get("auth", default).strip().lower()
    if mode not in allowed:
        raise AuthenticationFailed(f"integration option auth={mode!r} must be one of {', '.join(allowed)}")
    return mode


def label_list(integration: Integration, option: str, default: str) -> list[str]:
    return [name.strip() for name in integration.options.get(option, default).split(",") if name.strip()]


def first_label(labels: Mapping[str, str], names: list[str]) -> str | None:
    return next((labels[name] for name in names if labels.get(name)), None)


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """sha256 of the labels as sorted JSON: the same label set in any order gives the same value."""
    return hashlib.sha256(orjson.dumps(dict(labels), option=orjson.OPT_SORT_KEYS)).hexdigest()


def real_time(value: Any) -> datetime | None:
    """parse_time, treating Go's zero time (0001-01-01T00:00:00Z) as absent."""
    parsed = parse_time(value)
    if parsed is None or parsed.year <= GO_ZERO_TIME_YEAR:
        return None
    return parsed


def text(value: Any) -> str | None:
    """A non-empty string, else None (Alertmanager sends "" for unset URLs)."""
    return value if isinstance(value, str) and value.strip() else None


def alert_status(word: Any, what: str) -> AlertStatus:
    if word == "firing":
        return AlertStatus.FIRING
    if word == "resolved":
        return AlertStatus.RESOLVED
    raise UnsupportedPayload(f"{what}: status must be 'firing' or 'resolved', got {word!r}")


class AlertmanagerProvider:
    name = SOURCE

    async def authenticate(self, request: WebhookRequest, integration: Integration, context: ProviderContext) -> None:
        mode = auth_mode(integration, ("bearer", "basic", "none"), "bearer")
        if mode != "none":
            verify_authorization_header(request, integration, mode)

    def parse(self, request: WebhookRequest, integration: Integration) -> ParsedWebhook:
        payload = json_object(request)
        version = payload.get("version")
        if version is not None and str(version) != "4":
            raise UnsupportedPayload(f"unsupported Alertmanager webhook version {version!r} (expected '4')")
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise UnsupportedPayload("Alertmanager webhook: 'alerts' must be a list")
        normalized = [_alert(as_mapping(alert, f"alerts[{index}]"), index, payload, request, integration)
                      for index, alert in enumerate(alerts)]
        return ParsedWebhook(alerts=normalized, delivery_key=None, note=truncation_note(payload))

    def error_body(self, status: int, reason: str) -> Mapping[str, Any] | None:
        return None


def truncation_note(payload: Mapping[str, Any]) -> str | None:
    """Alertmanager's (and Grafana's) `truncatedAlerts`: alerts the sender left out (`max_alerts`)."""
    truncated = payload.get("truncatedAlerts")
    return f"{truncated} alerts truncated by max_alerts" if isinstance(truncated, int) and truncated > 0 else None


class AlertFields(NamedTuple):
    """What Alertmanager-shaped alerts (Alertmanager's and Grafana's) carry alike."""

    labels: dict[str, str]
    annotations: dict[str, str]
    status: AlertStatus
    fingerprint: str
    starts_at: str
    occurred_at: datetime
    project: str
    environment: str | None


def alert_fields(alert: Mapping[str, Any], index: int, payload: Mapping[str, Any], request: WebhookRequest,
                 integration: Integration, default_project_labels: str) -> AlertFields:
    what = f"alerts[{index}]"
    labels = clean_tags(alert.get("labels") if isinstance(alert.get("labels"), Mapping) else payload.get("commonLabels"))
    annotations = clean_tags(alert.get("annotations") if isinstance(alert.get("annotations"), Mapping)
                             else payload.get("commonAnnotations"))
    status = alert_status(alert.get("status") or payload.get("status"), what)
    fingerprint = text(alert.get("fingerprint")) or labels_fingerprint(labels)
    starts_at = alert.get("startsAt") if isinstance(alert.get("startsAt"), str) else ""
    started = real_time(starts_at)
    # A resolved alert resolved at endsAt; if that is Go's zero time (seen in the wild), when we heard of it.
    ended = (real_time(alert.get("endsAt")) or request.received_at) if status is AlertStatus.RESOLVED else None
    project = (first_label(labels, label_list(integration, "project_labels", default_project_labels))
               or integration.options.get("default_project") or UNKNOWN_PROJECT)
    environment = (first_label(labels, label_list(integration, "environment_labels", DEFAULT_ENVIRONMENT_LABELS))
                   or integration.options.get("default_environment"))
    return AlertFields(labels, annotations, status, fingerprint, starts_at, ended or started or request.received_at,
                       project, environment)


def _alert(alert: Mapping[str, Any], index: int, payload: Mapping[str, Any], request: WebhookRequest,
           integration: Integration) -> NormalizedAlert:
    labels, annotations, status, fingerprint, starts_at, occurred_at, project, environment = alert_fields(
        alert, index, payload, request, integration, DEFAULT_PROJECT_LABELS)
    title = annotations.get("summary") or annotations.get("title") or labels.get("alertname") or "Alertmanager alert"
    return NormalizedAlert(
        source=SOURCE,
        source_event_id=f"{fingerprint}:{starts_at}:{status.value}",
        project=project,
        environment=normalize_environment(environment),
        severity=severity_from_word(labels.get("severity") or annotations.get("severity"), default=Severity.MEDIUM),
        fingerprint=fingerprint,
        title=clip(title, MAX_TITLE_LENGTH),
        description=clip(annotations.get("description") or annotations.get("message") or "", MAX_DESCRIPTION_LENGTH),
        tags=labels,
        occurred_at=occurred_at,
        link=text(alert.get("generatorURL")) or text(payload.get("externalURL")),
        status=status,
    )
