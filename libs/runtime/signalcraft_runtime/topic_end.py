"""Where a topic's partitions really end: the barrier of read-your-writes, not the broker's word alone.

Tansu 0.6 on `s3://` answers ListOffsets(latest) from a watermark that trails the records it has
acked. Measured (one producer, one record at a time): acked 0, 1, 2, watermark 1 after each; kill -9
after 5 more, restart: still 1; acked 8-11: 9 after each, and 9 three seconds later and after a clean
restart. The records are there: a fetch from the watermark returns them. So the end is the
watermark or, past it, the offset after the last record that fetches from there return, read until
a fetch comes back empty. It costs a connection and a few fetches (100-200 ms on Tansu with S3).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

POLL_S = 0.01
FETCH_WAIT_MS = 20  # the last fetch finds nothing and waits this long on the broker


def _now_ms() -> int:
    return int(1000 * time.time())  # the clock aiokafka stamps fetch responses with


async def end_offsets(kafka: dict[str, Any], partitions: Iterable[TopicPartition],
                      at_least: Mapping[TopicPartition, int] | None = None,
                      timeout_s: float = 30.0) -> dict[TopicPartition, int]:
    """The offset after each partition's last record, read with a consumer of its own (a consumer
    that lived through a broker restart may wait on its dead fetch): from the watermark or from
    `at_least` (what the caller has read already), whichever is further. `kafka`: the connection
    options from `kafka_client_options`. TimeoutError after `timeout_s` (a broker that answers no
    fetch), so a caller at start tries again rather than waiting forever."""
    async with asyncio.timeout(timeout_s):
        return await _read_to_the_end(kafka, list(partitions), at_least or {})


async def _read_to_the_end(kafka: dict[str, Any], wanted: list[TopicPartition],
                           at_least: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
    reader = AIOKafkaConsumer(**kafka, enable_auto_commit=False, group_id=None, fetch_max_wait_ms=FETCH_WAIT_MS)
    try:
        await reader.start()
        ends = await reader.end_offsets(wanted)
        if not wanted:
            return ends
        reader.assign(wanted)
        answered_after: dict[TopicPartition, int] = {}
        for tp in wanted:
            ends[tp] = max(ends[tp], at_least.get(tp, 0))
            reader.seek(tp, ends[tp])
            answered_after[tp] = _now_ms()
        pending = set(wanted)
        while pending:
            for tp in list(pending):
                # A fetch response stamps the partition and buffers its records in one step, so a
                # stamp taken before draining the buffer, later than the last records, is an empty answer.
                stamp = reader.last_poll_timestamp(tp)
                records = (await reader.getmany(tp, timeout_ms=0)).get(tp, [])
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                    answered_after[tp] = _now_ms()
                elif stamp is not None and stamp > answered_after[tp]:
                    pending.discard(tp)
            if pending:
                await asyncio.sleep(POLL_S)
        return ends
    finally:
        await reader.stop()
