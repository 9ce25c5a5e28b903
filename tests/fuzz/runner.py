"""Sends the generated requests, classifies every answer, and keeps what the database checks need.

A request passes when it is answered below 500; a 4xx must also say why, as a JSON object with a
non-empty `error`, `detail` or (PagerDuty's shape) `errors`. Everything else is a violation: a 5xx, a
3xx, a 4xx without a reason, or no answer at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from .api import ApiRequests
from .cases import FuzzRequest
from .webhooks import WebhookRequests
from .world import FuzzWorld

WEBHOOK_SHARE = 0.7  # the rest goes to the query API
REPLAY_SHARE = 0.04  # of all requests: exact repeats of earlier signed webhooks
CONCURRENCY = 12
KEPT_BODY_BYTES = 65_536
SLACK = "slack /slack/interactions"


@dataclass(frozen=True)
class Outcome:
    request: FuzzRequest
    status: int | None  # None: no HTTP answer (see `error`)
    body: bytes = b""
    error: str | None = None
    seconds: float = 0.0
    retry_after: str | None = None

    @property
    def back_pressure(self) -> bool:
        """The config API's 503 for a change committed but not yet on the config topic (its relay is
        behind on a starved machine): it says so, carries the result and when to look again. Every
        other 5xx is a violation, Retry-After or not (a 503 "unable to store" hid a NUL in an SNS
        MessageId that no retry would ever store)."""
        if self.status != 503 or not self.retry_after or self.request.service != "query-api":
            return False
        detail = (self.json() or {}).get("detail")
        return isinstance(detail, dict) and detail.get("committed") is True

    @property
    def status_class(self) -> str:
        return "no answer" if self.status is None else f"{self.status // 100}xx"

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def problem(self) -> str | None:
        """Why this answer breaks the rules, or None."""
        if self.status is None:
            return f"no answer: {self.error}"
        if self.status >= 500 and not self.back_pressure:
            return f"{self.status}: {self.body[:300]!r}"
        if self.status < 200 or 300 <= self.status < 400:
            return f"{self.status} is neither success nor a client error"
        if self.status >= 400 and not _has_reason(self.json()) and not self.back_pressure:
            return f"{self.status} without a JSON reason: {self.body[:200]!r}"
        return None


def _has_reason(answer: Any) -> bool:
    if not isinstance(answer, dict):
        return False
    return any(answer.get(key) not in (None, "", [], {}) for key in ("error", "detail", "errors"))


@dataclass
class FuzzReport:
    seed: int
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def violations(self) -> list[tuple[Outcome, str]]:
        return [(o, p) for o in self.outcomes if (p := o.problem()) is not None]

    def by_class(self) -> Counter[str]:
        return Counter(o.status_class for o in self.outcomes)

    def webhook_answers(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.request.service == "ingest" and o.status is not None]

    def stored_webhooks(self) -> list[Outcome]:
        """2xx webhook answers that stored a delivery: all but the ones answered as duplicates."""
        return [o for o in self.webhook_answers() if o.request.endpoint != SLACK
                and 200 <= o.status < 300 and (o.json() or {}).get("status") != "duplicate"]  # type: ignore[operator]

    def slack_clicks_taken(self) -> int:
        """Clicks answered 200 without a message: stored, or a replay of a stored one (not stored again)."""
        return sum(1 for o in self.webhook_answers() if o.request.endpoint == SLACK and o.status == 200 and not o.body)

    def expected_alerts(self) -> int:
        total = 0
        for outcome in self.stored_webhooks():
            answer = outcome.json() or {}
            total += answer["alerts"] if "alerts" in answer else 1  # PagerDuty's answer: one event, one alert
        return total

    def accepted_api_writes(self) -> list[Any]:
        """What the config API answered to the writes it took: 2xx, and 503s that say the change was
        committed but not yet published (their answer carries the result)."""
        answers = []
        for o in self.outcomes:
            if o.request.service != "query-api" or o.request.method == "GET" or o.status is None:
                continue
            if 200 <= o.status < 300:
                answers.append(o.json())
            elif o.back_pressure:
                answers.append((o.json() or {})["detail"].get("result"))
        return answers

    def summary(self) -> str:
        classes = self.by_class()
        busy = sum(1 for o in self.outcomes if o.back_pressure)
        lines = [f"fuzz: {len(self.outcomes)} requests (seed {self.seed}) in {self.seconds:.1f} s: "
                 + ", ".join(f"{name} {classes.get(name, 0)}" for name in ("2xx", "4xx", "5xx"))
                 + (f" ({busy} of them 503: config change committed, not yet published)" if busy else "")
                 + "".join(f", {name} {count}" for name, count in sorted(classes.items())
                           if name not in ("2xx", "4xx", "5xx"))
                 + f"; violations {len(self.violations)}"]
        per_endpoint: dict[str, Counter[str]] = defaultdict(Counter)
        codes: Counter[int] = Counter()
        for outcome in self.outcomes:
            per_endpoint[outcome.request.endpoint][outcome.status_class] += 1
            if outcome.status is not None:
                codes[outcome.status] += 1
        lines.append(f"  {'endpoint':<44}{'requests':>9}{'2xx':>7}{'4xx':>7}{'5xx':>6}{'other':>7}")
        for endpoint in sorted(per_endpoint):
            counts = per_endpoint[endpoint]
            other = sum(counts.values()) - counts["2xx"] - counts["4xx"] - counts["5xx"]
            lines.append(f"  {endpoint:<44}{sum(counts.values()):>9}{counts['2xx']:>7}{counts['4xx']:>7}"
                         f"{counts['5xx']:>6}{other:>7}")
        lines.append("  status codes: " + ", ".join(f"{code} {count}" for code, count in sorted(codes.items())))
        return "\n".join(lines)

    def violation_samples(self, limit: int = 15) -> str:
        seen: set[tuple[str, str]] = set()
        lines = []
        for outcome, problem in self.violations:
            key = (outcome.request.endpoint, problem[:60])
            if key in seen:
                continue
            seen.add(key)
            lines.append(f"- {outcome.request.endpoint}: {problem}\n    {outcome.request.describe()}")
            if len(lines) >= limit:
                break
        return "\n".join(lines)


def generate(world: FuzzWorld, seed: int, count: int) -> Iterator[FuzzRequest]:
    """`count` fresh requests, the same ones for the same seed and world, made as they are sent."""
    rng = random.Random(seed)
    webhooks, api = WebhookRequests(world, rng), ApiRequests(world, rng)
    for _ in range(count):
        yield webhooks.next() if rng.random() < WEBHOOK_SHARE else api.next()


async def _send(client: httpx.AsyncClient, base_urls: dict[str, str], request: FuzzRequest) -> Outcome:
    url = httpx.URL(base_urls[request.service]).copy_with(
        raw_path=(request.path + (f"?{request.query}" if request.query else "")).encode("ascii"))
    started = time.monotonic()
    try:
        headers = [(name, value.encode() if isinstance(value, str) else value) for name, value in request.headers]
        response = await client.request(request.method, url, content=request.body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(_kept(request), None, error=f"{type(exc).__name__}: {exc!r}", seconds=time.monotonic() - started)
    return Outcome(_kept(request), response.status_code, response.content, seconds=time.monotonic() - started,
                   retry_after=response.headers.get("retry-after"))


def _kept(request: FuzzRequest) -> FuzzRequest:
    """What an outcome keeps of its request: all of it, but only the start of a large body."""
    if len(request.body) <= KEPT_BODY_BYTES:
        return request
    return dataclasses.replace(request, body=request.body[:KEPT_BODY_BYTES],
                               tags=(*request.tags, f"body-of-{len(request.body)}-bytes-cut"))


async def send_all(world: FuzzWorld, requests: Iterator[FuzzRequest]) -> list[Outcome]:
    """CONCURRENCY senders, each taking the next request as soon as its last one is answered."""
    base_urls = {"ingest": world.url("ingest"), "query-api": world.url("query-api")}
    outcomes: list[Outcome] = []
    # A connection per request: with keep-alive, a server whose event loop stalls past its keep-alive
    # timeout (5 s, on a starved machine) closes a connection the next request was already sent on,
    # and that request fails for a reason that has nothing to do with it.
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def sender() -> None:
            for request in requests:
                outcomes.append(await _send(client, base_urls, request))

        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    return outcomes


def run(world: FuzzWorld, seed: int, count: int) -> FuzzReport:
    """`count` requests in all: fresh ones, then exact replays of signed webhooks sent before."""
    replays = int(count * REPLAY_SHARE)
    report = FuzzReport(seed)
    started = time.monotonic()
    report.outcomes = asyncio.run(send_all(world, generate(world, seed, count - replays)))
    rng = random.Random(seed + 1)
    signed = sorted((o.request for o in report.outcomes if o.request.service == "ingest" and o.request.signed
                     and len(o.request.body) < KEPT_BODY_BYTES), key=lambda r: r.describe())
    again = [dataclasses.replace(r, tags=(*r.tags, "replay")) for r in rng.sample(signed, min(replays, len(signed)))]
    report.outcomes += asyncio.run(send_all(world, iter(again)))
    report.seconds = time.monotonic() - started
    return report
