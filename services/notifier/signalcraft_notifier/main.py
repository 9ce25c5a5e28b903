"""notifier: notifications.requested -> Slack -> notifications.results."""

from __future__ import annotations

from pathlib import Path

from signalcraft_runtime.consumer import CrashPoint, subscribe_batches
from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_schemas import Topic

from .delivery import CONSUMER_GROUP, NotificationDeliverer, SlackDirectory, tables


class NotifierSettings(ServiceSettings):
    http_port: int = 8004
    slack_base_url: str = "https://slack.com/api/"
    slack_max_attempts: int = 5
    slack_concurrency: int = 8  # groups notified in parallel; stays below db_pool_size


class _SlackConsumer:
    group_id = CONSUMER_GROUP

    def __init__(self, deliverer: NotificationDeliverer) -> None:
        self.deliverer = deliverer
        self.stats = deliverer.stats

    def register(self, broker, settings) -> None:  # type: ignore[no-untyped-def]
        subscribe_batches(broker, settings, self.group_id, [Topic.NOTIFICATIONS_REQUESTED], self.deliverer.process,
                          self.stats)


def create_service(settings: NotifierSettings) -> Service:
    service = Service(name="notifier", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations", needs_config=True)
    if service.secrets is None or service.config is None:
        raise RuntimeError("notifier needs SIGNALCRAFT_SECRET_KEY to read Slack tokens")
    directory = SlackDirectory(service.config.state, service.secrets, settings.slack_base_url)
    deliverer = NotificationDeliverer(service.uow, directory.client_for, max_attempts=settings.slack_max_attempts,
                                      concurrency=settings.slack_concurrency,
                                      crash_point=CrashPoint(settings.crash_after_records),
                                      sync_config=service.config.sync)
    service.consumers.append(_SlackConsumer(deliverer))  # type: ignore[arg-type]

    async def close_slack(_: Service) -> None:
        await directory.close()

    service.on_shutdown.append(close_slack)
    return service


def main() -> None:
    create_service(NotifierSettings()).run()
