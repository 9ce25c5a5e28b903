"""A rotated secret's grace period, disabled and deleted integrations (issue 11.3), as ingest sees them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.crypto import SecretBox
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import IntegrationConfigured
from signalcraft_ingest.adapters.integrations import IntegrationDirectory, UnknownSecret
from signalcraft_ingest.domain.errors import AuthenticationFailed, IntegrationDisabled, IntegrationGone
from signalcraft_ingest.domain.providers.grafana import GrafanaProvider
from signalcraft_ingest.domain.providers.pagerduty import PagerDutyProvider
from signalcraft_ingest.domain.verification import accepted_secrets
from signalcraft_ingest.handlers import authenticate
from signalcraft_query_api.domain.integration_ops import signed_test_webhook

from .helpers import RECEIVED_AT, FakeContext, make_integration, make_request

UNTIL = RECEIVED_AT + timedelta(hours=1)


def test_the_previous_secret_is_accepted_only_before_its_grace_ends() -> None:
    assert accepted_secrets("new", "old", UNTIL, RECEIVED_AT) == ["new", "old"]
    assert accepted_secrets("new", "old", UNTIL, UNTIL) == ["new"]
    assert accepted_secrets("new", "old", UNTIL, UNTIL + timedelta(seconds=1)) == ["new"]
    assert accepted_secrets("new", None, UNTIL, RECEIVED_AT) == ["new"]
    assert accepted_secrets("new", "old", None, RECEIVED_AT) == ["new"]


def rotated_grafana(until=UNTIL):  # type: ignore[no-untyped-def]
    integration = make_integration("grafana", "new-secret")
    return type(integration)(**{**integration.__dict__, "previous_secret": "old-secret",
                                "previous_secret_valid_until": until})


def bearer(token: str, received_at=RECEIVED_AT):  # type: ignore[no-untyped-def]
    return make_request({"alerts": []}, {"Authorization": f"Bearer {token}"}, received_at=received_at)


async def test_a_webhook_signed_with_the_old_secret_passes_during_the_grace_period_only() -> None:
    integration = rotated_grafana()
    for token in ("new-secret", "old-secret"):  # the integration as proved: with the secret that matched
        assert (await authenticate(GrafanaProvider(), bearer(token), integration, FakeContext())).secret == token
    with pytest.raises(AuthenticationFailed, match="do not match"):
        await authenticate(GrafanaProvider(), bearer("old-secret", UNTIL), integration, FakeContext())
    with pytest.raises(AuthenticationFailed, match="do not match"):
        await authenticate(GrafanaProvider(), bearer("stranger"), integration, FakeContext())


def directory(*events: IntegrationConfigured) -> tuple[IntegrationDirectory, SecretBox]:
    box = SecretBox(SecretBox.generate_key())
    state = ConfigState()
    for event in events:
        state.apply(Envelope.wrap(event, workspace_id=event.workspace_id, key=f"integration:{event.integration_id}",
                                  correlation_id="test", occurred_at=RECEIVED_AT))
    return IntegrationDirectory(state, box), box


def configured(box: SecretBox | None = None, **fields) -> IntegrationConfigured:  # type: ignore[no-untyped-def]
    return IntegrationConfigured(**{"integration_id": "gra-1", "workspace_id": "ws-1", "provider": "grafana",
                                    "name": "g", "secret_encrypted": "", **fields})


def test_a_disabled_integration_is_refused_with_that_reason_and_a_deleted_one_is_gone() -> None:
    found, _ = directory(configured(enabled=False))
    with pytest.raises(IntegrationDisabled, match="disabled"):
        found.get("gra-1", "grafana")
    gone, _ = directory(configured(enabled=False, deleted_at=RECEIVED_AT))
    with pytest.raises(IntegrationGone, match="deleted"):
        gone.get("gra-1", "grafana")


def test_the_directory_decrypts_the_previous_secret_with_its_deadline() -> None:
    found, box = directory()
    found._config.integrations["gra-1"] = configured(  # the state as the view folds it
        secret_encrypted=box.encrypt("new"), previous_secret_encrypted=box.encrypt("old"),
        previous_secret_valid_until=UNTIL)
    integration = found.get("gra-1", "grafana")
    assert (integration.secret, integration.previous_secret, integration.previous_secret_valid_until) == (
        "new", "old", UNTIL)


def test_a_pagerduty_routing_key_rotated_out_still_finds_its_integration_during_the_grace() -> None:
    found, box = directory()
    found._config.integrations["pag-1"] = configured(
        integration_id="pag-1", provider="pagerduty", secret_encrypted=box.encrypt("new-key"),
        previous_secret_encrypted=box.encrypt("old-key"), previous_secret_valid_until=UNTIL)
    assert found.by_secret_field("pagerduty", make_request({"routing_key": "old-key"})).integration_id == "pag-1"
    with pytest.raises(UnknownSecret):
        found.by_secret_field("pagerduty", make_request({"routing_key": "old-key"}, received_at=UNTIL))
    assert PagerDutyProvider().name == "pagerduty"


@pytest.mark.parametrize("options", [{}, {"auth": "basic"}, {"auth": "hmac"},
                                     {"auth": "hmac", "timestamp_header": "X-Ts"}, {"auth": "none"}])
async def test_the_api_s_test_webhook_authenticates_and_is_a_test_alert(options: dict[str, str]) -> None:
    secret = "user:pass" if options.get("auth") == "basic" else "the-secret"
    integration = make_integration("grafana", secret, **options)
    signed = signed_test_webhook("grafana", integration.integration_id, secret, options, RECEIVED_AT, marker="m1")
    request = make_request(signed.body, signed.headers)
    await GrafanaProvider().authenticate(request, integration, FakeContext())
    (alert,) = GrafanaProvider().parse(request, integration).alerts
    assert alert.is_test and alert.tags["signalcraft_test"] == "m1"
    assert signed.path == f"/webhooks/grafana/{integration.integration_id}"
