"""One generated request, as sent: which service and endpoint, the raw path and query, headers, body."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FuzzRequest:
    service: str  # "ingest" or "query-api"
    endpoint: str  # what the counts are grouped by, e.g. "sentry", "GET /api/alerts"
    method: str
    path: str  # raw, already percent-encoded
    body: bytes = b""
    headers: tuple[tuple[str, str | bytes], ...] = ()
    query: str = ""  # raw, already percent-encoded
    # What was done to it, for the report: e.g. ("signed", "nul-in-text", "hostile-time").
    tags: tuple[str, ...] = field(default=())

    @property
    def signed(self) -> bool:
        return "signed" in self.tags

    def describe(self, limit: int = 160) -> str:
        body = self.body[:limit]
        more = f"… ({len(self.body)} bytes)" if len(self.body) > limit else ""
        query = f"?{self.query[:limit]}" if self.query else ""
        return f"{self.method} {self.path[:limit]}{query} [{', '.join(self.tags)}] body={body!r}{more}"
