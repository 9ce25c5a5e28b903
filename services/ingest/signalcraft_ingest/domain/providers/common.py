"""What several providers share, so that no provider imports another: the JSON body, option helpers,
and the fields of Alertmanager-shaped alerts (Alertmanager's and Grafana's)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from signalcraft_schemas import AlertStatus

from ..errors import AuthenticationFailed, UnsupportedPayload
from ..normalize import clean_tags, parse_time
from .base import Integration, WebhookRequest

UNKNOWN_PROJECT = "unknown"
DEFAULT_ENVIRONMENT_LABELS = "env,environment"
# Go's zero time.Time, which Alertmanager sends as endsAt while an alert is still firing.
GO_ZERO_TIME_YEAR = 1


def json_object(request: WebhookRequest) -> Mapping[str, Any]:
    payload = request.json()
    if not isinstance(payload, Mapping):
        raise UnsupportedPayload("body must be a JSON object")
    return payload


REDACTED = "[redacted]"


def redacted_body(payload: Mapping[str, Any], secret_fields: tuple[str, ...]) -> bytes:
    """The JSON body to store, with the values of its top-level secret-bearing fields replaced: the
    raw copy of a delivery is for audit and replay, and must not hand out the integration's secret.
    orjson writes 255 levels of nesting where it reads 1,024: a body nested deeper is refused (422),
    not a server error."""
    try:
        return orjson.dumps({key: REDACTED if key in secret_fields else value for key, value in payload.items()})
    except orjson.JSONEncodeError as exc:
        raise UnsupportedPayload(f"body cannot be stored: {exc}") from None


def non_empty_text(value: Any) -> str | None:
    """A non-empty string, else None (Alertmanager sends "" for unset URLs)."""
    return value if isinstance(value, str) and value.strip() else None


def auth_mode(integration: Integration, allowed: tuple[str, ...], default: str) -> str:
    """The integration's `auth` option, lower-cased; AuthenticationFailed if it names no known mode."""
    mode = integration.options.get("auth", default).strip().lower()
    if mode not in allowed:
        raise AuthenticationFailed(f"integration option auth={mode!r} must be one of {', '.join(allowed)}")
    return mode


def truncation_note(payload: Mapping[str, Any]) -> str | None:
    """Alertmanager's (and Grafana's) `truncatedAlerts`: alerts the sender left out (`max_alerts`)."""
    truncated = payload.get("truncatedAlerts")
    return f"{truncated} alerts truncated by max_alerts" if isinstance(truncated, int) and truncated > 0 else None


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


def alert_status(word: Any, what: str) -> AlertStatus:
    if word == "firing":
        return AlertStatus.FIRING
    if word == "resolved":
        return AlertStatus.RESOLVED
    raise UnsupportedPayload(f"{what}: status must be 'firing' or 'resolved', got {word!r}")


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
    fingerprint = non_empty_text(alert.get("fingerprint")) or labels_fingerprint(labels)
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
