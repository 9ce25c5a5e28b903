"""Hostile requests for every route of the query API, read from its own OpenAPI document, so a route
added later is fuzzed too: hostile path and query parameters (NUL, huge or negative numbers, bad
dates, non-UUIDs, repeated or unknown parameters), bodies built from the route's schema and then
mutated (hostile.py), and missing or wrong bearer tokens.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .cases import FuzzRequest
from .hostile import HOSTILE_STRINGS, HOSTILE_TIMES, corrupt, encode, hostile_value, mutate, oversize
from .world import MAX_BODY_BYTES, FuzzWorld

GROUP_ACTIONS = ("ack", "unack", "snooze", "unsnooze", "resolve")
PROVIDERS = ("sentry", "alertmanager", "grafana", "datadog", "cloudwatch", "pagerduty")
# Query-string values, percent-encoded as sent: NUL, invalid UTF-8, huge and malformed numbers and times.
HOSTILE_PARAMS = (
    "%00", "a%00b", "%FF", "%C3%28", "%ED%A0%80", "-1", "0", "99999999999999999999999", "1e309", "NaN", "1.5",
    "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59%2B14:00", "0001-01-01T00:00:00-14:00", "10000-01-01",
    "2024-02-30", "yesterday", "", "x" * 6000, "%27%20OR%201%3D1--", "%E2%80%AE", "true", "%5B%5D", "%7B%7D",
    "not-a-uuid", "00000000-0000-0000-0000-00000000000", "%0D%0AX-Injected:%201",
)
HOSTILE_SEGMENTS = ("%00", "a%00b", "%FF%FE", "x" * 5000, "..", "%2E%2E", "%20", "%E2%80%AE",
                    "00000000-0000-0000-0000-000000000000", "not-a-uuid", "-1", "%25n")


# Not fuzzed: the rebuild empties every read model and replays the topics, so each call would stall
# every read of the run for seconds (tests/e2e/test_integrations_ops.py covers it; a second call
# while one runs is a 409, unit-tested in tests/unit/query_api/test_rebuild_guard.py). The event
# stream answers a valid request with a response that never ends (its keep-alives reset every read
# timeout): tests/e2e/test_read_api.py covers it.
NOT_FUZZED = {("POST", "/api/admin/rebuild-read-models"), ("GET", "/api/stream")}


class ApiRequests:
    def __init__(self, world: FuzzWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.components = world.openapi.get("components", {}).get("schemas", {})
        self.routes = [(method.upper(), path, operation)
                       for path, methods in world.openapi["paths"].items()
                       for method, operation in methods.items()
                       if path.startswith("/api/") and (method.upper(), path) not in NOT_FUZZED]
        if not self.routes:
            raise RuntimeError("the query API's OpenAPI document lists no /api/ routes")

    def next(self) -> FuzzRequest:
        method, template, operation = self.rng.choice(self.routes)
        tags: list[str] = []
        path = template
        query_parts: list[str] = []
        for parameter in operation.get("parameters", []):
            where, name, schema = parameter["in"], parameter["name"], parameter.get("schema", {})
            if where == "path":
                path = path.replace("{" + name + "}", self._path_value(name, schema, tags))
            elif where == "query":
                query_parts += self._query_values(name, schema, parameter.get("required", False), tags)
        if self.rng.random() < 0.1:
            query_parts.append(f"{self.rng.choice(('unknown', '%00', 'limit', 'workspace_id'))}="
                               f"{self.rng.choice(HOSTILE_PARAMS)}")
            tags.append("extra-param")
        self.rng.shuffle(query_parts)
        headers, body = self._auth(tags), b""
        request_body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if request_body is not None:
            body = self._body(request_body, tags)
            headers.append(("Content-Type", "application/json" if self.rng.random() < 0.9 else
                            self.rng.choice(("text/plain", "application/x-www-form-urlencoded", ""))))
        return FuzzRequest("query-api", f"{method} {template}", method, path, body, tuple(headers),
                           "&".join(query_parts), tuple(tags))

    # --- parameters ---

    def _path_value(self, name: str, schema: dict[str, Any], tags: list[str]) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            tags.append(f"hostile-{name}")
            return self.rng.choice(HOSTILE_SEGMENTS)
        if roll < 0.5 and name == "workspace_id":
            return self.world.workspace_id
        if name == "action":
            return self.rng.choice(GROUP_ACTIONS)
        if roll < 0.8 and name == "group_id" and self.world.groups:
            return str(self.rng.choice(self.world.groups)["group_id"])
        if schema.get("format") == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128)))
        return f"fz-{self.rng.getrandbits(40):x}"  # fresh: a write here creates, never overwrites

    def _query_values(self, name: str, schema: dict[str, Any], required: bool, tags: list[str]) -> list[str]:
        roll = self.rng.random()
        if roll < (0.05 if required else 0.4):
            return []
        if roll < 0.7:
            return [f"{name}={quote(self._valid_query(name, schema), safe='')}"]
        tags.append(f"hostile-{name}")
        values = [self.rng.choice(HOSTILE_PARAMS)]
        if self.rng.random() < 0.15:
            values.append(self.rng.choice(HOSTILE_PARAMS))  # repeated
        return [f"{name}={value}" for value in values]

    def _valid_query(self, name: str, schema: dict[str, Any]) -> str:
        if name == "workspace_id":
            return self.world.workspace_id if self.rng.random() < 0.8 else f"fz-{self.rng.getrandbits(20):x}"
        kinds = self._alternatives(schema)
        if any(k.get("format") == "date-time" for k in kinds):
            return datetime.now(UTC).isoformat()
        if name == "timeout":  # how long ?wait=true waits: short, or the run would mostly wait
            return "0.5"
        integer = next((k for k in kinds if k.get("type") == "integer"), None)
        if integer is not None:
            return str(self.rng.randint(int(integer.get("minimum", 0)), int(integer.get("maximum", 1000))))
        return self.rng.choice(("prod", "open", "critical", "sentry", "fuzz", "resolved", "high"))

    def _alternatives(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        schema = self._resolve(schema)
        if "anyOf" in schema or "oneOf" in schema:
            return [self._resolve(s) for s in schema.get("anyOf", schema.get("oneOf", []))]
        return [schema]

    def _auth(self, tags: list[str]) -> list[tuple[str, str | bytes]]:
        roll = self.rng.random()
        if roll < 0.88:
            return [("Authorization", f"Bearer {self.world.admin_token}")]
        tags.append("bad-token")
        return self.rng.choice(([], [("Authorization", "Bearer wrong")], [("Authorization", self.world.admin_token)],
                                [("Authorization", f"Basic {self.world.admin_token}")],
                                [("Authorization", f"Bearer {self.world.admin_token}\u00e9".encode("utf-8"))],
                                [("Authorization", "Bearer " + "x" * 8000)]))

    # --- bodies ---

    def _body(self, schema: dict[str, Any], tags: list[str]) -> bytes:
        document = self.instance(schema, "")
        if self.rng.random() < 0.7:
            document, done = mutate(document, self.rng)
            tags += done
        else:
            tags.append("schema-valid")
        body = encode(document, self.rng)
        roll = self.rng.random()
        if roll < 0.1:
            body, what = corrupt(body, self.rng)
            tags.append(what)
        elif roll < 0.12:
            body = oversize(body, MAX_BODY_BYTES, self.rng)
            tags.append("oversize")
        return body

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        return self._resolve(self.components[ref.rsplit("/", 1)[-1]]) if ref else schema

    def instance(self, schema: dict[str, Any], name: str, depth: int = 0) -> Any:
        """A value the schema allows (mostly), with names the API gives meaning to filled in sensibly."""
        schema = self._resolve(schema)
        if "anyOf" in schema or "oneOf" in schema:
            options = [s for s in self._alternatives(schema) if s.get("type") != "null"] or [{"type": "null"}]
            return self.instance(self.rng.choice(options), name, depth)
        if "allOf" in schema:
            return self.instance(schema["allOf"][0], name, depth)
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            result: dict[str, Any] = {}
            required = set(schema.get("required", ()))
            for key, value in schema.get("properties", {}).items():
                if key in required or self.rng.random() < 0.6:
                    result[key] = self.instance(value, key, depth + 1)
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and depth < 4:
                for i in range(self.rng.randint(0, 3)):
                    result[f"{name or 'k'}{i}"] = self.instance(extra, f"{name}{i}", depth + 1)
            return result
        if kind == "array":
            return [self.instance(schema.get("items", {}), name, depth + 1) for _ in range(self.rng.randint(0, 3))]
        if kind == "integer":
            low = int(schema.get("minimum", 0))
            return self.rng.randint(low, int(schema.get("maximum", low + 1000)))
        if kind == "number":
            return self.rng.uniform(float(schema.get("minimum", 0)), float(schema.get("maximum", 1000)))
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "string":
            return self._string(schema, name)
        return hostile_value(self.rng) if self.rng.random() < 0.5 else None

    def _string(self, schema: dict[str, Any], name: str) -> str:
        if name == "workspace_id":
            return self.world.workspace_id if self.rng.random() < 0.7 else f"fz-{self.rng.getrandbits(40):x}"
        if name == "provider":
            return self.rng.choice(PROVIDERS)
        if schema.get("format") in ("uri", "url") or name.endswith("_url"):
            return self.rng.choice(("https://runbooks.example.com/a", "http://x", "https://example.com/\u0000"))
        if schema.get("format") == "date-time":
            return self.rng.choice((datetime.now(UTC).isoformat(), *[t for t in HOSTILE_TIMES if isinstance(t, str)]))
        if name in ("channel", "default_channel"):
            return self.rng.choice(("#fuzz", "#fuzz-other", "C0123456"))
        if name == "bot_token":  # fake Slack takes any xoxb- token: the fuzz workspace keeps posting
            return f"xoxb-fuzz-{self.rng.getrandbits(64):x}"
        if name in ("secret", "signing_secret"):
            return f"fuzz-{self.rng.getrandbits(64):x}"
        if self.rng.random() < 0.2:
            return self.rng.choice(HOSTILE_STRINGS)
        return f"fuzz {name} {self.rng.getrandbits(16)}"
