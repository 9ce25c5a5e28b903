"""The envelope every event travels in, and its encoding on the wire (JSON, UTF-8).

`data` is typed per event type (see `events.py`); `schema_version` lets readers upcast old shapes
before domain code sees them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

import orjson
import uuid6
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


def new_event_id() -> UUID:
    """UUIDv7: time-ordered, so ids sort roughly by creation."""
    return uuid6.uuid7()


class EventData(BaseModel):
    """Base of every event's `data`. Subclasses set TYPE, VERSION and TOPIC."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str]


D = TypeVar("D", bound=EventData)


class Envelope(BaseModel, Generic[D]):
    model_config = ConfigDict(frozen=True)

    id: UUID
    type: str
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    workspace_id: str
    key: str = Field(description="Partitioning key: the group_key for everything about one alert group")
    correlation_id: str = Field(description="The webhook delivery (or admin request) that started the chain")
    causation_id: UUID | None = Field(default=None, description="The event that caused this one")
    data: D

    @classmethod
    def wrap(
        cls,
        data: D,
        *,
        workspace_id: str,
        key: str,
        correlation_id: str,
        occurred_at: datetime,
        causation_id: UUID | None = None,
        id: UUID | None = None,
    ) -> "Envelope[D]":
        return envelope_of(type(data))(
            id=id or new_event_id(),
            type=data.TYPE,
            schema_version=data.VERSION,
            occurred_at=occurred_at,
            workspace_id=workspace_id,
            key=key,
            correlation_id=correlation_id,
            causation_id=causation_id,
            data=data,
        )

    def caused(self, data: EventData, *, key: str | None = None, occurred_at: datetime | None = None) -> "Envelope[Any]":
        """An event caused by this one: same workspace and correlation, causation = this id.

        `occurred_at` is when the new event happens (default: now), not when its cause did.
        """
        return Envelope.wrap(
            data,
            workspace_id=self.workspace_id,
            key=key if key is not None else self.key,
            correlation_id=self.correlation_id,
            causation_id=self.id,
            occurred_at=occurred_at or datetime.now(UTC),
        )


class UnknownEventType(ValueError):
    pass


_ENVELOPE_OF: dict[type[Any], type[Envelope[Any]]] = {}


def envelope_of(data_type: type[Any]) -> type[Envelope[Any]]:
    """`Envelope[data_type]`, held here. Pydantic keeps its parametrized generics only weakly: once
    collected, the next `Envelope[X]` builds the class and its validator anew (milliseconds), and
    even a hit of its cache cost ~0.1 ms; this is a dict lookup, for every event built or decoded."""
    envelope = _ENVELOPE_OF.get(data_type)
    if envelope is None:
        envelope = _ENVELOPE_OF[data_type] = Envelope[data_type]  # type: ignore[valid-type]
    return envelope


def encode(envelope: Envelope[Any]) -> bytes:
    return orjson.dumps(envelope.model_dump(mode="json"))


def decode(raw: bytes | str | dict[str, Any]) -> Envelope[Any]:
    """Parse an envelope and its typed data, upcasting older schema versions first."""
    from .events import EVENT_TYPES
    from .upcasting import upcast

    doc = raw if isinstance(raw, dict) else orjson.loads(raw)
    event_type = doc.get("type")
    model = EVENT_TYPES.get(event_type)  # type: ignore[arg-type]
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    doc = upcast(doc, model)
    # A tolerant reader: a field that a newer writer added (an additive change, which `make schemas`
    # allows) is ignored here, so a rolling upgrade does not dead-letter the newer replicas' events.
    # Building an event stays strict (extra="forbid"), which catches typos in our own code.
    return envelope_of(model).model_validate(doc, extra="ignore")
