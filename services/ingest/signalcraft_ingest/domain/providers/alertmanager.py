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

from collections.abc import Mapping
from typing import Any

from signalcraft_schemas import NormalizedAlert, Severity

from ..errors import UnsupportedPayload
from ..normalize import (
    MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH, as_mapping, clip, normalize_environment, severity_from_word,
)
from ..verification import verify_authorization
from .base import Integration, ParsedWebhook, ProviderContext, WebhookRequest
from .common import alert_fields, auth_mode, json_object, non_empty_text, truncation_note

SOURCE = "alertmanager"
DEFAULT_PROJECT_LABELS = "service,job,namespace"


class AlertmanagerProvider:
    name = SOURCE

    async def authenticate(self, request: WebhookRequest, integration: Integration, context: ProviderContext) -> None:
        mode = auth_mode(integration, ("bearer", "basic", "none"), "bearer")
        if mode != "none":
            verify_authorization(request.header("authorization"), integration.secret, mode)

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
        link=non_empty_text(alert.get("generatorURL")) or non_empty_text(payload.get("externalURL")),
        status=status,
    )
