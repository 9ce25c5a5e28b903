"""An integration's life after it is created: disabled and enabled, its secret rotated with a grace
period, deleted; and the test webhook that shows where a delivery goes.

Every change republishes the whole `IntegrationConfigured` under `integration:<id>` (the topic is
compacted: the latest record is the integration). A deletion is a record too, with `deleted_at` and
no secret, so ingest can answer 410 rather than a 404 that looks like a typo.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from signalcraft_schemas.events import IntegrationConfigured

from .config import ConfigChange
from .silence import ALERT_WHEN_SILENT

DEFAULT_SECRET_GRACE = timedelta(hours=24)


class UnknownIntegrationId(LookupError):
    """No such integration, or one of another workspace (404)."""


class NoTestWebhook(ValueError):
    """The provider has no test payload SignalCraft can sign as its sender would (422)."""


@dataclass(frozen=True)
class StoredIntegration:
    """An integration's row with the rotation it is in, if any (secrets still encrypted)."""

    integration_id: str
    workspace_id: str
    provider: str
    name: str
    secret_encrypted: str
    enabled: bool
    options: dict[str, str]
    previous_secret_encrypted: str | None = None
    previous_secret_valid_until: datetime | None = None


def _in_grace(stored: StoredIntegration, now: datetime) -> bool:
    until = stored.previous_secret_valid_until
    return bool(stored.previous_secret_encrypted) and until is not None and now < until


def integration_state(stored: StoredIntegration, now: datetime) -> ConfigChange[IntegrationConfigured]:
    """The integration as services should see it now: a previous secret only while its grace lasts."""
    grace = _in_grace(stored, now)
    event = IntegrationConfigured(
        integration_id=stored.integration_id, workspace_id=stored.workspace_id, provider=stored.provider,
        name=stored.name, secret_encrypted=stored.secret_encrypted, enabled=stored.enabled,
        options=stored.options, previous_secret_encrypted=stored.previous_secret_encrypted if grace else None,
        previous_secret_valid_until=stored.previous_secret_valid_until if grace else None)
    return ConfigChange(event, stored.workspace_id, f"integration:{stored.integration_id}")


def with_enabled(stored: StoredIntegration, enabled: bool) -> StoredIntegration:
    return StoredIntegration(**{**stored.__dict__, "enabled": enabled})


def patched(stored: StoredIntegration, enabled: bool | None, alert_when_silent: bool | None) -> StoredIntegration:
    """Enabled or not, and whether it raises an alert when it goes silent (its option); None: as it was."""
    options = dict(stored.options)
    if alert_when_silent is not None:
        options[ALERT_WHEN_SILENT] = "true" if alert_when_silent else "false"
    return StoredIntegration(**{**stored.__dict__, "enabled": stored.enabled if enabled is None else enabled,
                                "options": options})


def rotated(stored: StoredIntegration, new_secret_encrypted: str, now: datetime, grace: timedelta) -> StoredIntegration:
    """The new secret in place; the one it replaces accepted until now + grace (0: not at all)."""
    return StoredIntegration(**{**stored.__dict__, "secret_encrypted": new_secret_encrypted,
                                "previous_secret_encrypted": stored.secret_encrypted if grace > timedelta(0) else None,
                                "previous_secret_valid_until": now + grace if grace > timedelta(0) else None})


def integration_deleted(stored: StoredIntegration, now: datetime) -> ConfigChange[IntegrationConfigured]:
    """The tombstone: no secret, disabled, deleted_at set."""
    event = IntegrationConfigured(
        integration_id=stored.integration_id, workspace_id=stored.workspace_id, provider=stored.provider,
        name=stored.name, secret_encrypted="", enabled=False, options={}, deleted_at=now)
    return ConfigChange(event, stored.workspace_id, f"integration:{stored.integration_id}")


def integration_view(stored: StoredIntegration, now: datetime) -> dict[str, Any]:
    """What the API shows: never a secret, but whether a rotation's grace period is running."""
    return {"integration_id": stored.integration_id, "workspace_id": stored.workspace_id,
            "provider": stored.provider, "name": stored.name, "enabled": stored.enabled,
            "options": dict(stored.options),
            "previous_secret_valid_until": stored.previous_secret_valid_until if _in_grace(stored, now) else None}


# --- the test webhook ------------------------------------------------------------------------

@dataclass(frozen=True)
class SignedWebhook:
    """A request as the provider would send it: where (relative to ingest), the body and headers."""

    path: str
    body: bytes
    headers: dict[str, str]
    marker: str  # a label carried by the test alert, so the trace finds it


def signed_test_webhook(provider: str, integration_id: str, secret: str, options: dict[str, str], now: datetime,
                 marker: str | None = None) -> SignedWebhook:
    """The provider's own test notification, which ingest marks `is_test` (kept out of dashboards),
    signed or authorised with the integration's secret the way its auth option says."""
    marker = marker or secrets.token_hex(6)
    if provider == "grafana":
        return _grafana_test(integration_id, secret, options, now, marker)
    raise NoTestWebhook(f"sending a test webhook is supported for grafana integrations; a {provider} "
                        "integration is tested from the provider's side (its own 'send test' button)")


def _grafana_test(integration_id: str, secret: str, options: dict[str, str], now: datetime,
                  marker: str) -> SignedWebhook:
    # grafana/alerting newTestAlert: these labels and this summary are how ingest recognises a test.
    alert = {"status": "firing", "labels": {"alertname": "TestAlert", "instance": "Grafana",
                                            "signalcraft_test": marker},
             "annotations": {"summary": "Notification test"}, "startsAt": now.isoformat(),
             "endsAt": "0001-01-01T00:00:00Z", "fingerprint": hashlib.sha256(marker.encode()).hexdigest()[:16]}
    payload = {"receiver": "signalcraft-test", "status": "firing", "orgId": 1, "alerts": [alert],
               "groupKey": f"signalcraft-{alert['fingerprint']}-{int(now.timestamp())}", "version": "1",
               "title": "[FIRING:1] TestAlert Grafana", "message": "SignalCraft test webhook"}
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json"} | _grafana_auth(secret, options, body, now)
    return SignedWebhook(f"/webhooks/grafana/{integration_id}", body, headers, marker)


def _grafana_auth(secret: str, options: dict[str, str], body: bytes, now: datetime) -> dict[str, str]:
    mode = options.get("auth", "bearer")
    if mode == "hmac":
        timestamp_header = options.get("timestamp_header")
        message = f"{int(now.timestamp())}:".encode() + body if timestamp_header else body
        headers = {options.get("hmac_header", "X-Grafana-Alerting-Signature"):
                   hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}
        return headers | ({timestamp_header: str(int(now.timestamp()))} if timestamp_header else {})
    if mode == "basic":
        return {"authorization": "Basic " + base64.b64encode(secret.encode()).decode()}
    if mode == "none":
        return {}
    return {"authorization": f"Bearer {secret}"}


def trace_of_test_webhook(delivery: dict[str, Any], alert: dict[str, Any] | None, group: dict[str, Any] | None,
               notifications: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a test webhook went: ingest's answer, then its alert, its group, the route and the Slack
    message. `reached` is the last step it got to; `complete` once nothing more will happen (ingest
    refused it, or Slack answered), and `failed` names the step that refused it, with `error`."""
    trace: dict[str, Any] = {"delivery": delivery, "alert_id": None, "group_id": None, "route": None,
                             "notification": None, "reached": "ingest", "complete": False, "failed": None,
                             "error": None}
    if delivery.get("status_code") not in (200, 202):
        return trace | {"complete": True, "failed": "ingest", "error": delivery.get("error")}
    if alert is None:
        return trace
    trace |= {"alert_id": str(alert["event_id"]), "reached": "alert"}
    if group is None:
        return trace
    trace |= {"group_id": str(group["group_id"]), "reached": "group"}
    if not notifications:
        return trace
    finished = [n for n in notifications if n.get("status") in ("delivered", "failed")]
    chosen = finished[0] if finished else notifications[0]
    trace |= {"route": {"channel": chosen.get("channel"), "runbook_url": group.get("runbook_url")},
              "notification": {k: chosen.get(k) for k in ("kind", "channel", "status", "error", "attempts")},
              "reached": "route"}
    if chosen.get("status") == "delivered":
        return trace | {"reached": "slack", "complete": True}
    if chosen.get("status") == "failed":
        return trace | {"complete": True, "failed": "slack", "error": chosen.get("error")}
    return trace
