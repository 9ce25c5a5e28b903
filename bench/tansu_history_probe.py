"""What one produce -> consume costs on Tansu on SeaweedFS S3 (as `make run` starts it) as a
partition's history grows.

Tansu 0.6.0's S3 storage answers a fetch that has anything new by listing *every* batch object of
the partition (one S3 object per produced batch, never deleted: its DeleteRecords is not
implemented), then reading those at or after the fetch offset. So the cost of a fetch grows with
the number of objects the partition holds, not with what the consumer reads.

Starts its own Tansu + `weed mini`, a topic of one partition, then for each step: fills the
partition to that many batch objects (one record per produce request, so one object each), and
for `--cycle-seconds` repeats: produce one record, wait until a consumer tailing the partition has
it, pause 200 ms. Prints the CPU of Tansu and SeaweedFS per cycle (from /proc) and the p50 latency,
beside the first step's, measured in the same run. Prints, does not assert.

    .venv/bin/python -m bench.tansu_history_probe                       # 200, 2,000, 8,000 objects
    .venv/bin/python -m bench.tansu_history_probe --objects 100 1000 20000
    .venv/bin/python -m bench.tansu_history_probe --retention   # a group commits each step's end and
        # the embedded broker's retention (broker_retention.py) sweeps before the cycles: what is left
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from signalcraft_devstack.broker import BUCKET, TansuBroker
from signalcraft_devstack.broker_retention import Filer, RetentionPolicy, batch_object_counts, sweep

from . import procstat

TOPIC = "history-probe"


async def cycles(bootstrap: str, producer: AIOKafkaProducer, seconds: float,
                 roots: dict[str, int]) -> tuple[int, dict[str, float], float]:
    """Produce one record, wait for a tailing consumer to receive it, pause; for `seconds`.
    Returns the cycles, CPU seconds per root, and the p50 produce -> consume in ms."""
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="latest")
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=1000)  # assigned, positioned at the end
        before = procstat.ticks_by_tree(procstat.snapshot(), roots)
        started, latencies = time.monotonic(), []
        while time.monotonic() - started < seconds:
            sent = time.perf_counter()
            await producer.send_and_wait(TOPIC, b"y" * 300)
            while not await consumer.getmany(timeout_ms=10_000):
                pass
            latencies.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.2)
        after = procstat.ticks_by_tree(procstat.snapshot(), roots)
        return len(latencies), procstat.seconds_between(before, after), statistics.median(latencies)
    finally:
        await consumer.stop()


async def commit_end(bootstrap: str, offset: int) -> None:
    """A consumer group that has read the partition up to `offset` (what a service commits)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="history-reader", enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(TOPIC, 0)])
        await consumer.commit({TopicPartition(TOPIC, 0): offset})
    finally:
        await consumer.stop()


def retained_objects(broker: TansuBroker) -> int:
    """Run one retention sweep (nothing kept for its age), return the topic's batch objects left."""
    assert broker.s3 is not None
    with Filer(broker.s3.filer_url) as filer:
        sweep(filer, BUCKET, RetentionPolicy(keep_seconds=0), now=time.time(), watching_since=time.time())
        return batch_object_counts(filer, BUCKET).get(TOPIC, 0)


async def main(objects: list[int], cycle_seconds: float, retention: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="signalcraft-history-probe-"))
    broker = TansuBroker(root / "broker", root / "logs").start()
    try:
        bootstrap = broker.bootstrap_servers
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(TOPIC, 1, 1)])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=0)
        await producer.start()
        assert broker.process is not None and broker.s3 is not None and broker.s3.process is not None
        roots = {"tansu": broker.process.pid, "seaweedfs": broker.s3.process.pid}
        print(f"load average at start: {[round(x, 2) for x in os.getloadavg()]}", flush=True)
        stored, first = 0, None
        for target in sorted(objects):
            while stored < target:  # awaited one by one: one produce request, one S3 object each
                await producer.send_and_wait(TOPIC, b"x" * 300)
                stored += 1
            label = f"{target:>7,} objects in the partition"
            if retention:
                await commit_end(bootstrap, stored)
                label = f"{target:>7,} objects written, {await asyncio.to_thread(retained_objects, broker):,} kept"
            n, cpu, p50 = await cycles(bootstrap, producer, cycle_seconds, roots)
            stored += n
            per_cycle = {name: seconds * 1000 / n for name, seconds in cpu.items()}
            total = sum(per_cycle.values())
            first = first or (total, p50)
            print(f"{label}: per produce -> consume cycle "
                  f"tansu {per_cycle.get('tansu', 0):.1f} + seaweedfs {per_cycle.get('seaweedfs', 0):.1f} "
                  f"= {total:.1f} ms CPU ({total / first[0]:.1f}x the first step), "
                  f"p50 {p50:.0f} ms ({p50 / first[1]:.1f}x), {n} cycles", flush=True)
        await producer.stop()
        print(f"load average at end: {[round(x, 2) for x in os.getloadavg()]}", flush=True)
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[200, 2000, 8000],
                        help="batch objects in the partition at each step")
    parser.add_argument("--cycle-seconds", type=float, default=10)
    parser.add_argument("--retention", action="store_true",
                        help="before each step's cycles, a group commits the end and the retention sweeps")
    options = parser.parse_args()
    asyncio.run(main(options.objects, options.cycle_seconds, options.retention))
