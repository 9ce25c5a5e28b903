"""Does Tansu (on SeaweedFS S3, as `make run` starts it) answer a long-polling fetch as soon as a
record is produced, and what does one idle consumer cost Tansu and SeaweedFS at each fetch wait?

Starts its own Tansu + `weed mini`, six topics of 2 partitions with some records in them, then:
  1. per fetch_max_wait (100, 500, 2000, 5000 ms): a consumer tails partition 0 while a producer
     sends one record at a time at various points of the consumer's fetch; prints produce -> consume ms;
  2. CPU of Tansu and SeaweedFS (% of a core, from /proc) over 15 s with no consumer, then with one
     idle consumer of 2 and of 12 partitions at fetch waits of 100, 500 and 5000 ms.
Prints, does not assert (bench/README.md, "Idle and low-load levers (issue 13)", has a run).

    .venv/bin/python -m bench.tansu_fetch_probe
    .venv/bin/python -m bench.tansu_fetch_probe --waits 25,50,100 --sends 40 --no-idle-cost
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from signalcraft_devstack.broker import TansuBroker

from . import procstat

TOPICS = [f"probe-{i}" for i in range(6)]


async def produce_to_consume_ms(bootstrap: str, topic: str, wait_ms: int, sends: int = 6) -> list[float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=wait_ms)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await consumer.getmany(timeout_ms=wait_ms + 500)  # in its fetch loop
        latencies = []
        for n in range(sends):
            await asyncio.sleep(0.2 + (0.37 * (n + 1)) % 1.3)  # at different points of a fetch
            started = time.perf_counter()
            await producer.send_and_wait(topic, b"x", partition=0)
            while not await consumer.getmany(timeout_ms=10_000):
                pass
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies
    finally:
        await consumer.stop()
        await producer.stop()


async def idle_cost(bootstrap: str, topics: list[str], wait_ms: int | None, seconds: float,
                    roots: dict[str, int]) -> dict[str, float]:
    """% of a core of each root's tree while one consumer (none if `wait_ms` is None) tails `topics`."""
    consumer = None
    if wait_ms is not None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=wait_ms)
        await consumer.start()
        tps = [TopicPartition(t, p) for t in topics for p in (0, 1)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        await consumer.getmany(timeout_ms=1000)
    before = procstat.ticks_by_tree(procstat.snapshot(), roots)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if consumer is not None:
            await consumer.getmany(timeout_ms=1000)
        else:
            await asyncio.sleep(1.0)
    after = procstat.ticks_by_tree(procstat.snapshot(), roots)
    wall = time.monotonic() - started
    if consumer is not None:
        await consumer.stop()
    return {name: round(p, 2) for name, p in procstat.core_percent(procstat.seconds_between(before, after), wall).items()}


async def main(waits: list[int], sends: int, with_idle_cost: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="signalcraft-fetch-probe-"))
    broker = TansuBroker(root / "broker", root / "logs").start()
    try:
        bootstrap = broker.bootstrap_servers
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(t, 2, 1) for t in TOPICS])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()
        for topic in TOPICS:
            for partition in (0, 1):
                for _ in range(20):
                    await producer.send_and_wait(topic, b"y" * 500, partition=partition)
        await producer.stop()
        for wait_ms in waits:
            latencies = sorted(await produce_to_consume_ms(bootstrap, TOPICS[0], wait_ms, sends))
            print(f"fetch_max_wait {wait_ms} ms: produce -> consume ms {[round(x) for x in latencies]} "
                  f"(median {latencies[len(latencies) // 2]:.0f})", flush=True)
        if not with_idle_cost:
            return
        assert broker.process is not None and broker.s3 is not None and broker.s3.process is not None
        roots = {"tansu": broker.process.pid, "seaweedfs": broker.s3.process.pid}
        print(f"no consumer: % of a core {await idle_cost(bootstrap, [], None, 15, roots)}", flush=True)
        for count in (1, 6):
            for wait_ms in (100, 500, 5000):
                cost = await idle_cost(bootstrap, TOPICS[:count], wait_ms, 15, roots)
                print(f"one idle consumer, {count * 2} partitions, fetch_max_wait {wait_ms} ms: % of a core {cost}",
                      flush=True)
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waits", default="100,500,2000,5000", help="fetch_max_wait values (ms), comma-separated")
    parser.add_argument("--sends", type=int, default=6, help="records produced one at a time per wait")
    parser.add_argument("--no-idle-cost", action="store_true", help="skip part 2 (CPU of idle consumers)")
    args = parser.parse_args()
    asyncio.run(main([int(w) for w in args.waits.split(",")], args.sends, not args.no_idle_cost))
