"""Retention for the embedded broker: deletes the batch objects every consumer group has read.

Tansu 0.6 on S3 keeps each produced batch as one object and, on every fetch below the high
watermark, lists *all* objects of the partition; it never deletes any (`delete_records` is
`todo!()`). So a broker fetch costs CPU in proportion to the partition's whole history
(bench/tansu_history_probe.py: ~21 ms of Tansu + SeaweedFS CPU per produce -> consume at 240
objects, 217 ms at 8,000), and `make run` left up for a day would spend its cores listing. This
process does what a Kafka broker's log retention does, conservatively:

- a batch object goes once every consumer group that reads its partition is past all of it
  (its successor's first offset is at or below each group's committed offset; a group that
  subscribes to the topic and has not committed on it yet counts as at 0) and it is older than
  `keep_seconds` (so a consumer that joins now can still replay that much);
- the newest object of a partition always stays, and only a prefix is deleted (Tansu answers
  "earliest" with the oldest object, which stays the lowest offset);
- a group holds data back until no member has heartbeated or committed for
  `forget_groups_after_seconds` *while this process was watching* (a stack restarted after a week
  forgets nobody: its groups rejoin within seconds); then it is gone (an old read-model
  generation, a test's group) and no longer pins the topic;
- the config topic is never touched: every service replays it whole.

It reads and deletes through the SeaweedFS filer's HTTP API (the same objects Tansu sees through
the S3 gateway). Only the embedded stack runs it; Kafka deployments have the broker's retention.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import struct
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType

from signalcraft_schemas import Topic

CONFIG_TOPIC = str(Topic.CONFIG)


@dataclass(frozen=True)
class BatchObject:
    """One produced batch as Tansu stores it: its first offset and when it was written."""

    offset: int
    written_at: float  # epoch seconds


@dataclass(frozen=True)
class GroupPosition:
    """Where one consumer group stands on one partition."""

    group: str
    committed: int  # the next offset the group will read
    last_seen: float  # epoch seconds of its latest heartbeat or commit


@dataclass(frozen=True)
class RetentionPolicy:
    keep_seconds: float = 60.0
    forget_groups_after_seconds: float = 3600.0
    sweep_every_seconds: float = 10.0


def batches_to_delete(batches: Sequence[BatchObject], positions: Sequence[GroupPosition], policy: RetentionPolicy,
                      now: float, watching_since: float) -> list[int]:
    """The first offsets of the batch objects of one partition that can go, lowest first."""
    watched_long_enough = now - watching_since >= policy.forget_groups_after_seconds
    holding = [p.committed for p in positions
               if not (watched_long_enough and now - p.last_seen > policy.forget_groups_after_seconds)]
    if not holding:  # nobody reads it (or nobody we may trust): keep everything
        return []
    floor = min(holding)
    ordered = sorted(batches, key=lambda b: b.offset)
    doomed: list[int] = []
    for batch, successor in zip(ordered, ordered[1:]):
        # A batch runs up to its successor's first offset; stop at the first one someone still needs.
        if successor.offset > floor or batch.written_at > now - policy.keep_seconds:
            break
        doomed.append(batch.offset)
    return doomed


# --- the SeaweedFS filer, over HTTP -----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    modified: float


def parse_filer_time(text: str) -> float:
    """`2026-12-03T08:39:47Z` or with nanoseconds (`...47.859231798Z`): epoch seconds."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)


_DIRECTORY_MODE = 0x80000000  # Go's os.ModeDir, as the filer reports it


@dataclass
class Filer:
    """Lists, reads and deletes paths on a SeaweedFS filer, on one kept-alive connection."""

    base_url: str
    timeout: float = 30.0
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def _request(self, method: str, path: str, query: str = "",
                 headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):  # the filer closes idle connections: reconnect once
            if self._connection is None:
                url = urllib.parse.urlsplit(self.base_url)
                self._connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port,
                                                              timeout=self.timeout)
            try:
                self._connection.request(method, urllib.parse.quote(path) + query, headers=headers or {})
                response = self._connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def list(self, directory: str) -> Iterator[Entry]:
        """The entries of `directory` (none when it does not exist), page by page."""
        last = ""
        while True:
            query = "?limit=1000" + (f"&lastFileName={urllib.parse.quote(last)}" if last else "")
            status, body = self._request("GET", directory.rstrip("/") + "/", query, {"Accept": "application/json"})
            if status == 404:
                return
            if status != 200:
                raise RuntimeError(f"filer listing {directory}: HTTP {status}: {body[:200]!r}")
            page = json.loads(body)
            for raw in page.get("Entries") or []:
                yield Entry(name=raw["FullPath"].rsplit("/", 1)[-1],
                            is_dir=bool(raw.get("Mode", 0) & _DIRECTORY_MODE),
                            modified=parse_filer_time(raw["Mtime"]))
            if not page.get("ShouldDisplayLoadMore"):
                return
            last = page["LastFileName"]

    def read(self, path: str) -> bytes | None:
        status, body = self._request("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"filer read {path}: HTTP {status}")
        return body

    def delete(self, path: str) -> None:
        status, body = self._request("DELETE", path)
        if status not in (200, 202, 204, 404):
            raise RuntimeError(f"filer delete {path}: HTTP {status}: {body[:200]!r}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "Filer":
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


# --- one sweep over Tansu's layout in the bucket ---------------------------------------------------
#   clusters/<cluster>/topics/<topic>/partitions/<partition:010>/records/<offset:020>.batch
#   clusters/<cluster>/groups/consumers/<group>.json                 (rewritten on every heartbeat)
#   clusters/<cluster>/groups/consumers/<group>/offsets/<topic>/partitions/<partition:010>.json


@dataclass
class SweepResult:
    deleted: dict[tuple[str, int], int] = field(default_factory=dict)
    remaining: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def deleted_total(self) -> int:
        return sum(self.deleted.values())


def subscribed_topics(group_state: bytes) -> set[str]:
    """The topics a consumer group's members subscribe to, from Tansu's `<group>.json`: each member's
    join metadata is Kafka's consumer protocol subscription (int16 version, int32 topic count, then
    int16-length topic names)."""
    topics: set[str] = set()
    try:
        members = json.loads(group_state).get("members") or {}
    except ValueError:
        return topics
    for member in members.values():
        metadata = bytes((member.get("join_response") or {}).get("metadata") or [])
        try:
            (count,) = struct.unpack_from(">i", metadata, 2)
            at = 6
            for _ in range(count):
                (length,) = struct.unpack_from(">h", metadata, at)
                topics.add(metadata[at + 2:at + 2 + length].decode())
                at += 2 + length
        except (struct.error, UnicodeDecodeError):
            continue
    return topics


@dataclass
class GroupsSeen:
    """What the bucket says of the consumer groups: committed offsets, and who subscribes to what."""

    committed: dict[tuple[str, int], list[GroupPosition]] = field(default_factory=dict)
    subscribers: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # topic -> (group, last seen)

    def positions(self, topic: str, partition: int) -> list[GroupPosition]:
        """Committed positions on the partition, and offset 0 for a group that subscribes to the topic
        but has not committed on it yet (it joined and is reading from the start: hold everything)."""
        found = list(self.committed.get((topic, partition), []))
        known = {p.group for p in found}
        found += [GroupPosition(group, 0, seen) for group, seen in self.subscribers.get(topic, []) if group not in known]
        return found


def _groups_seen(filer: Filer, consumers: str) -> GroupsSeen:
    entries = list(filer.list(consumers))
    heartbeats = {e.name.removesuffix(".json"): e.modified for e in entries if not e.is_dir and e.name.endswith(".json")}
    seen = GroupsSeen()
    for group, heartbeat in heartbeats.items():
        state = filer.read(f"{consumers}/{group}.json")
        for topic in subscribed_topics(state or b"{}"):
            seen.subscribers.setdefault(topic, []).append((group, heartbeat))
    for group in (e.name for e in entries if e.is_dir):
        for topic in (e.name for e in filer.list(f"{consumers}/{group}/offsets") if e.is_dir):
            for committed in filer.list(f"{consumers}/{group}/offsets/{topic}/partitions"):
                if committed.is_dir or not committed.name.endswith(".json"):
                    continue
                body = filer.read(f"{consumers}/{group}/offsets/{topic}/partitions/{committed.name}")
                if body is None:
                    continue
                partition = int(committed.name.removesuffix(".json"))
                last_seen = max(committed.modified, heartbeats.get(group, 0.0))
                seen.committed.setdefault((topic, partition), []).append(
                    GroupPosition(group, int(json.loads(body)["offset"]), last_seen))
    return seen


def _partitions(filer: Filer, bucket: str) -> Iterator[tuple[str, str, int, str]]:
    """(cluster root, topic, partition, records directory) of every partition in the bucket."""
    for cluster in (e.name for e in filer.list(f"/buckets/{bucket}/clusters") if e.is_dir):
        root = f"/buckets/{bucket}/clusters/{cluster}"
        for topic in (e.name for e in filer.list(f"{root}/topics") if e.is_dir):
            for partition in (e.name for e in filer.list(f"{root}/topics/{topic}/partitions") if e.is_dir):
                yield root, topic, int(partition), f"{root}/topics/{topic}/partitions/{partition}/records"


def _batches(filer: Filer, records: str) -> list[BatchObject]:
    return [BatchObject(int(e.name[:20]), e.modified) for e in filer.list(records)
            if not e.is_dir and e.name.endswith(".batch")]


def batch_object_counts(filer: Filer, bucket: str) -> dict[str, int]:
    """How many batch objects each topic holds (what every fetch of it lists), summed over its partitions."""
    counts: dict[str, int] = {}
    for _root, topic, _partition, records in _partitions(filer, bucket):
        counts[topic] = counts.get(topic, 0) + len(_batches(filer, records))
    return counts


def sweep(filer: Filer, bucket: str, policy: RetentionPolicy, now: float, watching_since: float,
          excluded_topics: frozenset[str] = frozenset({CONFIG_TOPIC})) -> SweepResult:
    """Delete what `batches_to_delete` allows in every partition of every topic in the bucket."""
    result = SweepResult()
    groups: dict[str, GroupsSeen] = {}
    for root, topic, partition, records in _partitions(filer, bucket):
        if topic in excluded_topics:
            continue
        if root not in groups:
            # Offsets before objects: a group's position read first can only be behind what it is when
            # the objects are listed, never ahead of it.
            groups[root] = _groups_seen(filer, f"{root}/groups/consumers")
        batches = _batches(filer, records)
        doomed = batches_to_delete(batches, groups[root].positions(topic, partition), policy, now, watching_since)
        for offset in doomed:
            filer.delete(f"{records}/{offset:020}.batch")
        if doomed:
            result.deleted[(topic, partition)] = len(doomed)
        result.remaining[(topic, partition)] = len(batches) - len(doomed)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--filer", required=True, help="the SeaweedFS filer's URL, e.g. http://127.0.0.1:8888")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--keep-seconds", type=float, default=RetentionPolicy.keep_seconds)
    parser.add_argument("--forget-groups-after-seconds", type=float, default=RetentionPolicy.forget_groups_after_seconds)
    parser.add_argument("--sweep-every-seconds", type=float, default=RetentionPolicy.sweep_every_seconds)
    args = parser.parse_args(argv)
    policy = RetentionPolicy(args.keep_seconds, args.forget_groups_after_seconds, args.sweep_every_seconds)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watching_since = time.time()
    with Filer(args.filer) as filer:
        print(json.dumps({"event": "broker retention started", "keep_seconds": policy.keep_seconds,
                          "forget_groups_after_seconds": policy.forget_groups_after_seconds,
                          "sweep_every_seconds": policy.sweep_every_seconds}), flush=True)
        while not stopping:
            try:
                result = sweep(filer, args.bucket, policy, time.time(), watching_since)
                if result.deleted:
                    print(json.dumps({"event": "batch objects deleted", "total": result.deleted_total,
                                      "deleted": {f"{t}/{p}": n for (t, p), n in sorted(result.deleted.items())},
                                      "remaining": {f"{t}/{p}": n for (t, p), n in sorted(result.remaining.items())}}),
                          flush=True)
            except (OSError, RuntimeError, ValueError) as exc:  # S3 server restarting: try again next time
                filer.close()
                print(json.dumps({"event": "sweep failed", "error": repr(exc)}), file=sys.stderr, flush=True)
            deadline = time.monotonic() + policy.sweep_every_seconds
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.2)


if __name__ == "__main__":
    main()
