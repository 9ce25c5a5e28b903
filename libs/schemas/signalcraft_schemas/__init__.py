"""The contract between SignalCraft services: the event envelope, every event's data, the topics."""

from .alerts import AlertStatus, NormalizedAlert, Severity
from .envelope import Envelope, EventData, decode, encode, new_event_id
from .topics import Topic

__all__ = [
    "AlertStatus", "Envelope", "EventData", "NormalizedAlert", "Severity", "Topic",
    "decode", "encode", "new_event_id",
]
