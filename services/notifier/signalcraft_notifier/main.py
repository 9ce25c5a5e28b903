"""notifier: notifications.requested -> Slack -> notifications.results."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path

from pydantic import Field

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_schemas import Topic
from signalcraft_schemas.events import NotificationRequested

from .adapters.slack import SlackDirectory, SlackGateway
from .domain.pacing import LanePacing, Pacer
from .handlers import NotificationDelivery, ReplyLane, RewriteLane
from .repository import tables


class NotifierSettings(ServiceSettings):
    http_port: int = 8004
    slack_base_url: str = "https://slack.com/api/"
    slack_max_attempts: int = 5
    slack_concurrency: int = 8  # groups notified in parallel; stays below db_pool_size
    slack_lease_seconds: float = Field(default=10.0, gt=0, description=(
        "How long a `sending` delivery stays this replica's without renewal (renewed every third of it "
        "while its Slack call runs); after a crash another replica takes it over once it has run out"))
    slack_posts_per_second: float = Field(default=1.0, gt=0, description=(
        "Thread replies per channel per second (Slack: about 1); a first notification never waits for it, and "
        "a reply that must wait waits in the reply lane, not in the consumer's batch"))
    slack_post_burst: float = Field(default=5.0, ge=1)
    slack_rewrites_per_minute: float = Field(default=50.0, gt=0, description=(
        "chat.update calls per workspace per minute (Slack's Tier 3); rewrites of one message coalesce meanwhile"))
    slack_rewrite_burst: float = Field(default=20.0, ge=1)
    slack_rewrite_interval_seconds: float = Field(default=1.0, ge=0, description=(
        "The least time between two rewrites of one message"))
    replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}",
                            description="Owner name of this replica's leases")


def create_service(settings: NotifierSettings) -> Service:
    service = Service(name="notifier", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations", needs_config=True)
    if service.secrets is None or service.config is None:
        raise RuntimeError("notifier needs SIGNALCRAFT_SECRET_KEY to read Slack tokens")
    directory = SlackDirectory(service.config.state, service.secrets, settings.slack_base_url)
    slack = SlackGateway(directory.client_for, max_attempts=settings.slack_max_attempts,
                         api_base_url=settings.slack_base_url)
    pacing = LanePacing(lease=timedelta(seconds=settings.slack_lease_seconds),
                        posts=Pacer(settings.slack_posts_per_second, settings.slack_post_burst),
                        rewrites=Pacer(settings.slack_rewrites_per_minute / 60, settings.slack_rewrite_burst),
                        rewrite_interval=timedelta(seconds=settings.slack_rewrite_interval_seconds))
    lane = RewriteLane(service.uow, slack, settings.replica_id, pacing, concurrency=settings.slack_concurrency)
    reply_lane = ReplyLane(service.uow, slack, settings.replica_id, pacing, concurrency=settings.slack_concurrency)
    delivery = NotificationDelivery(slack, service.uow, settings.replica_id, pacing,
                                    concurrency=settings.slack_concurrency, sync_config=service.config.sync,
                                    rewrites_queued=lane.wake, replies_queued=reply_lane.wake)
    service.add_side_effect_consumer("notifier", [Topic.NOTIFICATIONS_REQUESTED], delivery,
                                     accepts=(NotificationRequested,), alert_path=True)
    service.add_drain_loop("rewrite_lane", lane.step, every_s=0)  # step itself waits to be woken
    service.add_drain_loop("reply_lane", reply_lane.step, every_s=0)  # the same
    service.on_shutdown.append(lambda _: directory.close())
    return service


def main() -> None:
    create_service(NotifierSettings()).run()
