"""Finding a webhook's integration when the config view trails a write that was just made."""

from __future__ import annotations

import asyncio

import pytest

from signalcraft_ingest.domain.errors import UnknownIntegration
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
