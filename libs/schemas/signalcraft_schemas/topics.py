"""Kafka topics. Everything about one alert group is keyed by its group_key, so it stays in order."""

from enum import StrEnum


class Topic(StrEnum):
    ALERTS_NORMALIZED = "alerts.normalized"
    GROUPS_COMMANDS = "groups.commands"
    GROUPS_EVENTS = "groups.events"
    NOTIFICATIONS_REQUESTED = "notifications.requested"
    NOTIFICATIONS_RESULTS = "notifications.results"
    ESCALATIONS = "escalations"
    CONFIG = "config"
    DEADLETTER = "deadletter"
