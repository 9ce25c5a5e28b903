"""Grafana unified alerting: the webhook contact point (payload `version: "1"`). See
shared/fixtures/SIGNATURES.md, "Grafana Alerting".

The payload is Alertmanager's plus Grafana fields (`values`, `valueString`, `silenceURL`,
`dashboardURL`, `panelURL`, `orgId`, and the deprecated `title`/`state`/`message`). One
NormalizedAlert per `alerts[]` entry, each with its own firing/resolved status.

Test notifications ("Test" on a contact point) are marked `is_test`. Grafana builds them in
grafana/alerting `newTestAlert`: labels `alertname=TestAlert, instance=Grafana`, annotation
`summary=Notification test`, and sends them with a group key `<integration>-<fingerprint>-<unix time>`
instead of the usual `{...}:{...}` matcher form. Either sign marks a test, so a test alert with
custom labels is still recognised by its group key.

Options (all optional):
  auth                 "bearer" (default) / "basic" / "none", as for Alertmanager, or
                       "hmac": hex HMAC-SHA256 of the body with the integration secret (Grafana's
                       "HMAC Signature" setting), in header `hmac_header`.
  hmac_header          default "X-Grafana-Alerting-Signature".
  timestamp_header     if set (must match Grafana's "Timestamp header"), the signed message is
                       b"<unix seconds>:" + body, and the timestamp must be within
                       `max_skew_seconds` of the time the request was received.
  max_skew_seconds     default "300".
  replay_window_seconds  how long the same signed message is refused as a replay (default
                       SIGNALCRAFT_REPLAY_WINDOW_SECONDS, 24 h).

Replays. Without a timestamp header nothing in the request is fresh: a captured request can be
sent again as it was. Every Grafana delivery is therefore recognised by the SHA-256 of what was
signed (b"<timestamp>:" + body, or the body): the same again within the replay window is answered
200 "duplicate" and not stored. Grafana sends no delivery id, so without a timestamp header an
identical notification repeated within the window (same alerts, same values) also counts once;
set "Timestamp header" in Grafana (and `timestamp_header` here) to tell repeats from replays.
  project_labels       default "service,job,namespace,grafana_folder".
  environment_labels   default "env,environment".
  default_project      else "unknown".
  default_environment  else "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from signalcraft_schemas import NormalizedAlert, Severity

from ..errors import AuthenticationFailed, UnsupportedPayload
from ..normalize import (
    MAX_DESCRIPTION_LENGTH, MAX_TAGS, MAX_TITLE_LENGTH, as_mapping, clip, normalize_environment, severity_from_word,
)
from ..verification import (
    signed_digest, unix_timestamp, verify_authorization, verify_freshness, verify_hex_signature,
)
from .base import Integration, ParsedWebhook, ProviderContext, WebhookRequest
from .common import alert_fields, auth_mode, json_object, non_empty_text, truncation_note

SOURCE = "grafana"
DEFAULT_PROJECT_LABELS = "service,job,namespace,grafana_folder"
DEFAULT_HMAC_HEADER = "X-Grafana-Alerting-Signature"
DEFAULT_MAX_SKEW_SECONDS = 300
TEST_ALERT_LABELS = {"alertname": "TestAlert", "instance": "Grafana"}
# Group key of a test notification: "<integration name>-<16 hex fingerprint>-<unix seconds>".
TEST_GROUP_KEY = re.compile(r"^[^{}]*-[0-9a-f]{16}-\d+$")


class GrafanaProvider:
    name = SOURCE

    async def authenticate(self, request: WebhookRequest, integration: Integration, context: ProviderContext) -> None:
        mode = auth_mode(integration, ("bearer", "basic", "hmac", "none"), "bearer")
        if mode == "hmac":
            _verify_hmac(request, integration)
        elif mode != "none":
            verify_authorization(request.header("authorization"), integration.secret, mode)

    def parse(self, request: WebhookRequest, integration: Integration) -> ParsedWebhook:
        payload = json_object(request)
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise UnsupportedPayload("Grafana webhook: 'alerts' must be a list")
        test_group = isinstance(payload.get("groupKey"), str) and bool(TEST_GROUP_KEY.match(payload["groupKey"]))
        normalized = [_alert(as_mapping(alert, f"alerts[{index}]"), index, payload, test_group, request, integration)
                      for index, alert in enumerate(alerts)]
        return ParsedWebhook(alerts=normalized, delivery_key=None, note=truncation_note(payload),
                             replay_key=signed_digest(_signed_message(request, integration)))

    def error_body(self, status: int, reason: str) -> Mapping[str, Any] | None:
        return None


def _verify_hmac(request: WebhookRequest, integration: Integration) -> None:
    header = integration.options.get("hmac_header", DEFAULT_HMAC_HEADER)
    timestamp_header = integration.options.get("timestamp_header")
    if timestamp_header:
        timestamp = unix_timestamp(request.header(timestamp_header), timestamp_header)
        verify_freshness(timestamp, request.received_at, _max_skew(integration), timestamp_header)
    verify_hex_signature(request.header(header), integration.secret, _signed_message(request, integration), header)


def _signed_message(request: WebhookRequest, integration: Integration) -> bytes:
    """What the HMAC covers: b"<unix seconds>:" + body with a timestamp header, else the body (which
    is also what a replay is recognised by, whatever the auth mode)."""
    timestamp_header = integration.options.get("timestamp_header")
    if timestamp_header and auth_mode(integration, ("bearer", "basic", "hmac", "none"), "bearer") == "hmac":
        return f"{unix_timestamp(request.header(timestamp_header), timestamp_header)}:".encode() + request.body
    return request.body


def _max_skew(integration: Integration) -> int:
    try:
        return int(integration.options.get("max_skew_seconds", str(DEFAULT_MAX_SKEW_SECONDS)))
    except ValueError:  # a configuration error: refuse rather than accept unchecked timestamps
        raise AuthenticationFailed("integration option max_skew_seconds is not an integer") from None


def _values_text(alert: Mapping[str, Any]) -> str:
    """Grafana's rendered query values: valueString if sent, else "A=1, B=2" from `values`."""
    if value_string := non_empty_text(alert.get("valueString")):
        return value_string
    values = alert.get("values")
    if isinstance(values, Mapping) and values:
        return ", ".join(f"{key}={value}" for key, value in values.items())
    return ""


def _absolute(url: str | None, base: str | None) -> str | None:
    """`url` as a link a person can open: as sent when absolute, resolved against the payload's
    externalURL when relative (Grafana 12 sends generatorURL "?orgId=1"), else dropped."""
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        return url
    if not scheme and base and urlsplit(base).scheme in ("http", "https"):
        # Relative to Grafana's root URL, which may have a path of its own (https://host/grafana/).
        return urljoin(base.rstrip("/") + "/", url if url.startswith("?") else url.lstrip("/"))
    return None


def _link(alert: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    base = non_empty_text(payload.get("externalURL"))
    candidates = (alert.get("generatorURL"), alert.get("panelURL"), alert.get("dashboardURL"), base)
    return next((link for link in (_absolute(non_empty_text(c), base) for c in candidates) if link), None)


def _is_test(labels: Mapping[str, str], annotations: Mapping[str, str], test_group: bool) -> bool:
    default_test_labels = all(labels.get(key) == value for key, value in TEST_ALERT_LABELS.items())
    return test_group or (default_test_labels and annotations.get("summary") == "Notification test")


def _alert(alert: Mapping[str, Any], index: int, payload: Mapping[str, Any], test_group: bool,
           request: WebhookRequest, integration: Integration) -> NormalizedAlert:
    labels, annotations, status, fingerprint, starts_at, occurred_at, project, environment = alert_fields(
        alert, index, payload, request, integration, DEFAULT_PROJECT_LABELS)
    title = annotations.get("summary") or labels.get("alertname") or "Grafana alert"
    description = annotations.get("description") or annotations.get("message") or ""
    if values := _values_text(alert):
        description = f"{description}\n\nValues: {values}" if description else f"Values: {values}"
    tags = dict(labels)
    if annotations.get("runbook_url") and len(tags) < MAX_TAGS:
        tags["runbook_url"] = annotations["runbook_url"]
    return NormalizedAlert(
        source=SOURCE,
        source_event_id=f"{fingerprint}:{starts_at}:{status.value}",
        project=project,
        environment=normalize_environment(environment),
        severity=severity_from_word(labels.get("severity"), default=Severity.MEDIUM),
        fingerprint=fingerprint,
        title=clip(title, MAX_TITLE_LENGTH),
        description=clip(description, MAX_DESCRIPTION_LENGTH),
        tags=tags,
        occurred_at=occurred_at,
        link=_link(alert, payload),
        status=status,
        is_test=_is_test(labels, annotations, test_group),
    )
