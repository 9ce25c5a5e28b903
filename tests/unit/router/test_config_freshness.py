"""The router routes with every rule saved before a batch arrived: it catches up with the config
topic before each batch, while other consumers do so only for a workspace they have not seen."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from signalcraft_router.main import RouterSettings, create_service
from signalcraft_runtime.config_view import ConfigState
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import WorkspaceConfigured

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class RecordingView:
    """Stands in for the config view's broker side: counts the catch-ups asked of it."""

    def __init__(self, workspaces: list[str]) -> None:
        self.state = ConfigState()
        for w in workspaces:
            self.state.workspaces[w] = WorkspaceConfigured(workspace_id=w, name=w)
        self.syncs = 0
        self.exact: list[bool] = []

    async def sync(self, timeout: float = 5.0, exact: bool = True) -> bool:
        self.syncs += 1
        self.exact.append(exact)
        return True


def event(workspace_id: str) -> Envelope[Any]:
    return Envelope.wrap(WorkspaceConfigured(workspace_id=workspace_id, name=workspace_id), workspace_id=workspace_id,
                         key="k", correlation_id="c", occurred_at=T0)


async def test_the_router_catches_up_with_the_config_topic_before_every_batch() -> None:
    service = create_service(RouterSettings())
    view = RecordingView(["ws-known"])
    service.config = view  # type: ignore[assignment]
    [consumer] = service.consumers
    assert consumer.prepare is not None
    await consumer.prepare([event("ws-known")])
    await consumer.prepare([event("ws-known")])
    assert view.syncs == 2  # even for a workspace it knows: a rule may have changed
    assert view.exact == [False, False]  # one ListOffsets each, not a fetch past the watermark


async def test_other_consumers_catch_up_only_for_a_workspace_they_have_not_seen() -> None:
    service = create_service(RouterSettings())
    view = RecordingView(["ws-known"])
    service.config = view  # type: ignore[assignment]
    await service.know_workspaces([event("ws-known")])
    assert view.syncs == 0
    await service.know_workspaces([event("ws-known"), event("ws-new")])
    assert view.syncs == 1
    assert view.exact == [True]  # a miss is decided up to the topic's last record
