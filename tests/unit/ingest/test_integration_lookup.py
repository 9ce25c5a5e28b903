"""Finding a webhook's integration when the config view trails a write that was just made."""

from __future__ import annotations

import asyncio

import pytest

from signalcraft_ingest.domain.errors import AuthenticationFailed, TryLater, UnknownIntegration
from signalcraft_ingest.adapters.integrations import IntegrationDirectory
from signalcraft_ingest.handlers import WebhookHandler
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.crypto import SecretBox
from signalcraft_schemas.events import IntegrationConfigured

from .helpers import make_request

BOX = SecretBox(SecretBox.generate_key())


def configured(integration_id: str) -> IntegrationConfigured:
    return IntegrationConfigured(integration_id=integration_id, workspace_id="ws-1", provider="sentry", name="Sentry",
                                 secret_encrypted=BOX.encrypt("s3cret"))


class TrailingConfig:
    """A config view one write behind the topic: `sync` applies the write, as catching up would."""

    def __init__(self, state: ConfigState, pending: list[IntegrationConfigured]) -> None:
        self.state, self.pending, self.syncs = state, pending, 0

    async def sync(self) -> bool:
        self.syncs += 1
        await asyncio.sleep(0.01)
        for item in self.pending:
            self.state.integrations[item.integration_id] = item
        self.pending = []
        return True


def handler(config: TrailingConfig | None, state: ConfigState) -> WebhookHandler:
    return WebhookHandler(IntegrationDirectory(state, BOX), writer=None, context=None,  # type: ignore[arg-type]
                          sync_config=config.sync if config else None)


async def test_an_integration_the_view_has_not_applied_yet_is_found_after_one_sync() -> None:
    state = ConfigState()
    config = TrailingConfig(state, [configured("sen-new")])
    found = await handler(config, state).find_integration("sentry", "sen-new", make_request({}))
    assert found.integration_id == "sen-new"
    assert config.syncs == 1


async def test_concurrent_requests_for_a_new_integration_share_the_catch_up() -> None:
    state = ConfigState()
    config = TrailingConfig(state, [configured("sen-new")])
    shared = handler(config, state)
    found = await asyncio.gather(*(shared.find_integration("sentry", "sen-new", make_request({})) for _ in range(20)))
    assert {i.integration_id for i in found} == {"sen-new"}
    assert config.syncs == 1  # the others found it once the first sync had brought it in


async def test_an_integration_that_does_not_exist_is_still_unknown_after_the_sync() -> None:
    state = ConfigState()
    config = TrailingConfig(state, [])
    with pytest.raises(UnknownIntegration):
        await handler(config, state).find_integration("sentry", "sen-nope", make_request({}))
    assert config.syncs == 1


async def test_a_known_integration_costs_no_sync() -> None:
    state = ConfigState()
    state.integrations["sen-1"] = configured("sen-1")
    config = TrailingConfig(state, [])
    assert (await handler(config, state).find_integration("sentry", "sen-1", make_request({}))).secret == "s3cret"
    assert config.syncs == 0


class SlowConfig(TrailingConfig):
    """A catch-up that takes a while, and reports whether it reached the topic's end."""

    def __init__(self, state: ConfigState, reached_end: bool = True, seconds: float = 0.05) -> None:
        super().__init__(state, [])
        self.reached_end, self.seconds = reached_end, seconds

    async def sync(self) -> bool:
        self.syncs += 1
        await asyncio.sleep(self.seconds)
        return self.reached_end


async def test_a_scan_of_made_up_ids_shares_a_few_syncs_and_known_integrations_do_not_wait() -> None:
    state = ConfigState()
    state.integrations["sen-1"] = configured("sen-1")
    config = SlowConfig(state, seconds=0.2)
    shared = handler(config, state)

    async def made_up(n: int) -> None:
        with pytest.raises(UnknownIntegration):
            await shared.find_integration("sentry", f"sen-made-up-{n}")

    scan = [asyncio.create_task(made_up(n)) for n in range(200)]
    await asyncio.sleep(0.01)  # the scan's first catch-up is running
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await shared.find_integration("sentry", "sen-1")).integration_id == "sen-1"
    assert loop.time() - started < 0.05  # not behind the scan's catch-up
    await asyncio.gather(*scan)
    assert config.syncs <= 2  # 200 unknown ids: one catch-up, and one begun after the others asked


async def test_an_unknown_id_while_the_view_is_incomplete_is_try_later_not_404() -> None:
    """After a restart the view may not have every integration yet: a sender may take 404 as final."""
    state = ConfigState()
    for config, ready in ((SlowConfig(state, reached_end=False), True), (SlowConfig(state), False)):
        lookup = WebhookHandler(IntegrationDirectory(state, BOX), writer=None, context=None,  # type: ignore[arg-type]
                                sync_config=config.sync, config_ready=lambda ready=ready: ready)
        with pytest.raises(TryLater) as later:
            await lookup.find_integration("sentry", "sen-exists-upstream")
        assert later.value.retry_after > 0 and "configuration" in later.value.reason


async def test_an_unknown_routing_key_is_looked_up_after_a_catch_up_and_a_missing_one_is_not() -> None:
    state = ConfigState()
    pd = IntegrationConfigured(integration_id="pag-1", workspace_id="ws-1", provider="pagerduty", name="PD",
                               secret_encrypted=BOX.encrypt("routing-key-1"))
    config = TrailingConfig(state, [pd])
    shared = handler(config, state)
    found = await shared.find_integration("pagerduty", None, make_request({"routing_key": "routing-key-1"}))
    assert found.integration_id == "pag-1" and config.syncs == 1
    with pytest.raises(AuthenticationFailed, match="missing routing_key"):
        await shared.find_integration("pagerduty", None, make_request({"event_action": "trigger"}))
    assert config.syncs == 1  # no catch-up can find a key that was not sent
