"""notifier: notifications.requested -> Slack -> notifications.results."""

from __future__ import annotations

from pathlib import Path

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_schemas import Topic
from signalcraft_schemas.events import NotificationRequested

from .adapters.slack import SlackDirectory, SlackGateway
from .handlers import NotificationDelivery
from .repository import tables


class NotifierSettings(ServiceSettings):
    http_port: int = 8004
    slack_base_url: str = "https://slack.com/api/"
    slack_max_attempts: int = 5
    slack_concurrency: int = 8  # groups notified in parallel; stays below db_pool_size


def create_service(settings: NotifierSettings) -> Service:
    service = Service(name="notifier", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations", needs_config=True)
    if service.secrets is None or service.config is None:
        raise RuntimeError("notifier needs SIGNALCRAFT_SECRET_KEY to read Slack tokens")
    directory = SlackDirectory(service.config.state, service.secrets, settings.slack_base_url)
    delivery = NotificationDelivery(SlackGateway(directory.client_for, max_attempts=settings.slack_max_attempts),
                                    concurrency=settings.slack_concurrency, sync_config=service.config.sync)
    service.add_side_effect_consumer("notifier", [Topic.NOTIFICATIONS_REQUESTED], delivery,
                                     accepts=(NotificationRequested,))
    service.on_shutdown.append(lambda _: directory.close())
    return service


def main() -> None:
    create_service(NotifierSettings()).run()
