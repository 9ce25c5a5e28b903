"""The configuration every service reads: workspaces, integrations, Slack connections, routing rules.

The query API owns configuration and publishes it to the compacted `config` topic. Each service
that needs it keeps this in-memory view, replayed from offset 0 at start; it is ready once it has
caught up with the end offsets seen at start. Secrets stay encrypted until a service reads them.

The view trails the topic by a fetch. Where that lag would turn a fresh write into a wrong answer
(an alert for a workspace created a moment ago routed nowhere, a webhook for a new integration
refused), the service calls `sync()`: a read-your-writes barrier up to the topic's current end.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from signalcraft_schemas import Envelope, Topic, decode
from signalcraft_schemas.events import (
    EscalationPolicyDeleted, EscalationPolicySaved, IntegrationConfigured, RoutingRuleDeleted, RoutingRuleSaved,
    ScheduleDeleted, ScheduleSaved, SlackConnected, SlackDisconnected, WorkspaceConfigured,
)

from . import topic_end
from .logs import get_logger
from .tasks import cancel_and_wait

log = get_logger(__name__)


@dataclass
class ConfigState:
    """Pure fold of config events; `apply` is the only way it changes."""

    workspaces: dict[str, WorkspaceConfigured] = field(default_factory=dict)
    integrations: dict[str, IntegrationConfigured] = field(default_factory=dict)
    slack: dict[str, SlackConnected] = field(default_factory=dict)
    rules: dict[str, RoutingRuleSaved] = field(default_factory=dict)
    escalation_policies: dict[str, EscalationPolicySaved] = field(default_factory=dict)
    schedules: dict[str, ScheduleSaved] = field(default_factory=dict)

    def apply(self, envelope: Envelope[Any]) -> None:
        data = envelope.data
        if isinstance(data, WorkspaceConfigured):
            self.workspaces[data.workspace_id] = data
        elif isinstance(data, IntegrationConfigured):
            self.integrations[data.integration_id] = data
        elif isinstance(data, SlackConnected):
            self.slack[data.workspace_id] = data
        elif isinstance(data, SlackDisconnected):
            self.slack.pop(data.workspace_id, None)
        elif isinstance(data, RoutingRuleSaved):
            self.rules[data.rule_id] = data
        elif isinstance(data, RoutingRuleDeleted):
            self.rules.pop(data.rule_id, None)
        else:
            self._apply_escalation_config(data)

    def _apply_escalation_config(self, data: Any) -> None:
        if isinstance(data, EscalationPolicySaved):
            self.escalation_policies[data.policy_id] = data
        elif isinstance(data, EscalationPolicyDeleted):
            self.escalation_policies.pop(data.policy_id, None)
        elif isinstance(data, ScheduleSaved):
            self.schedules[data.schedule_id] = data
        elif isinstance(data, ScheduleDeleted):
            self.schedules.pop(data.schedule_id, None)

    def escalation_policy(self, workspace_id: str, policy_id: str | None) -> EscalationPolicySaved | None:
        """The workspace's policy of that id; None for no id, or one of another workspace."""
        policy = self.escalation_policies.get(policy_id) if policy_id else None
        return policy if policy is not None and policy.workspace_id == workspace_id else None

    def schedule(self, workspace_id: str, schedule_id: str) -> ScheduleSaved | None:
        found = self.schedules.get(schedule_id)
        return found if found is not None and found.workspace_id == workspace_id else None

    def rules_for(self, workspace_id: str) -> list[RoutingRuleSaved]:
        """The workspace's rules; which apply, and in what order, is the router's `route` to say."""
        return [r for r in self.rules.values() if r.workspace_id == workspace_id]


class ConfigView:
    # Config changes are rare and `sync()` covers freshness where it matters, so the view polls
    # lazily: on Tansu every fetch costs storage reads, in every service, all the time.
    def __init__(self, kafka: dict[str, Any], fetch_max_wait_ms: int = 500) -> None:
        """`kafka`: the connection options from `kafka_client_options`."""
        self._kafka = kafka
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self.state = ConfigState()
        self.ready = asyncio.Event()
        self.changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        # Asks for end offsets on a connection of its own: a broker answers a connection's requests in
        # order, so on the tailing consumer's connection the question would wait behind its long poll.
        self._probe: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.ready.wait(), timeout)

    async def sync(self, timeout: float = 5.0, exact: bool = True) -> bool:
        """Return once the view has applied every record the config topic held when this was called.

        `exact`: up to the topic's last record, read past the broker's watermark (`topic_end`: Tansu's
        trails the records), at a fetch's cost (100-200 ms on Tansu with S3), for a caller about to
        act on a miss (a 404 to a webhook). Not exact: up to the watermark, one ListOffsets, for a
        caller that syncs before every batch; on Tansu with S3 it may stop a few records short.
        False when that took longer than `timeout` or the broker failed the request (broker trouble):
        the caller goes on with what it has, as it would without the barrier. It never raises: an
        error here would fail a webhook or a whole consumer batch for a view that is merely behind.
        """
        try:
            async with asyncio.timeout(timeout):
                async with self.changed:
                    await self.changed.wait_for(lambda: self._probe is not None)
                    probe, partitions, read = self._probe, self._partitions, dict(self._positions)
                assert probe is not None
                if exact:
                    end = await topic_end.end_offsets(self._kafka, partitions, at_least=read)
                else:
                    end = await probe.end_offsets(partitions)
                async with self.changed:
                    await self.changed.wait_for(lambda: all(self._positions.get(tp, 0) >= end[tp] for tp in end))
            return True
        except TimeoutError:
            log.warning("config view did not catch up in time", timeout_s=timeout)
            return False
        except KafkaError as exc:  # e.g. the probe stopped by a reconnect meanwhile, the broker unreachable
            log.warning("config view could not ask for the end offsets", error=repr(exc))
            return False

    async def _run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(**self._kafka, enable_auto_commit=False, auto_offset_reset="earliest",
                                        group_id=None, fetch_max_wait_ms=self._fetch_max_wait_ms)
            probe = AIOKafkaConsumer(**self._kafka, enable_auto_commit=False, group_id=None)
            try:
                await consumer.start()
                await probe.start()
                partitions = consumer.partitions_for_topic(str(Topic.CONFIG)) or set()
                while not partitions:
                    await asyncio.sleep(0.5)
                    await consumer._client.force_metadata_update()  # topic created by another service just now
                    partitions = consumer.partitions_for_topic(str(Topic.CONFIG)) or set()
                tps = [TopicPartition(str(Topic.CONFIG), p) for p in partitions]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                end = await topic_end.end_offsets(self._kafka, tps)
                async with self.changed:
                    self._probe, self._partitions, self._positions = probe, tps, {}
                    self.changed.notify_all()
                while True:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for record in records:
                            try:
                                self.state.apply(decode(record.value))
                            except Exception as exc:
                                log.error("bad config record skipped", offset=record.offset, error=repr(exc))
                    positions = {tp: await consumer.position(tp) for tp in tps}
                    if positions != self._positions:
                        async with self.changed:
                            self._positions = positions
                            self.changed.notify_all()
                    if not self.ready.is_set() and all(positions[tp] >= end[tp] for tp in tps):
                        self.ready.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("config view lost the broker, reconnecting", error=repr(exc))
                await asyncio.sleep(1.0)
            finally:
                self._probe = None
                await consumer.stop()
                await probe.stop()
