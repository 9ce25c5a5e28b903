"""Helpers every normalizer shares: severity words, environment names, tags, timestamps, group keys."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from signalcraft_schemas import NormalizedAlert, Severity

from .errors import UnsupportedPayload

_ENVIRONMENTS = {
    "prod": "prod", "production": "prod", "prd": "prod", "live": "prod", "prod-env": "prod",
    "staging": "staging", "stage": "staging", "stg": "staging", "preprod": "staging", "pre-prod": "staging",
    "uat": "staging",
    "dev": "dev", "development": "dev", "develop": "dev", "local": "dev",
    "test": "test", "testing": "test", "ci": "test",
    "qa": "qa",
}

UNKNOWN_ENVIRONMENT = "unknown"
MAX_TAGS = 64
MAX_TAG_LENGTH = 200
MAX_TITLE_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 4000


def normalize_environment(name: str | None) -> str:
    """production/prod/prd/live -> prod, stage/stg/preprod -> staging, development/local -> dev ..."""
    if name is None:
        return UNKNOWN_ENVIRONMENT
    cleaned = re.sub(r"\s+", "-", str(name).strip().lower())
    if not cleaned:
        return UNKNOWN_ENVIRONMENT
    return _ENVIRONMENTS.get(cleaned, cleaned[:64])


def group_key(source: str, project: str, environment: str, fingerprint: str) -> str:
    """sha256(source | project | environment | fingerprint), hex."""
    return hashlib.sha256("|".join((source, project, environment, fingerprint)).encode()).hexdigest()


# Sources whose fingerprint alone names the problem: a PagerDuty dedup_key is the incident whatever a
# trigger's payload says, and its acknowledge and resolve usually carry no payload (so no project or
# environment) yet must reach the trigger's group.
FINGERPRINT_NAMES_THE_GROUP = {"pagerduty"}


def group_key_of(alert: NormalizedAlert) -> str:
    if alert.source in FINGERPRINT_NAMES_THE_GROUP:
        return group_key(alert.source, "", "", alert.fingerprint)
    return group_key(alert.source, alert.project, alert.environment, alert.fingerprint)


def clip(text: Any, limit: int) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def clean_tags(pairs: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, str]:
    """Tags as str -> str, from a mapping or a list of [key, value] pairs / {"key","value"} dicts."""
    result: dict[str, str] = {}
    if not pairs or not isinstance(pairs, (Mapping, list, tuple)):
        return result
    items: Iterable[Any] = pairs.items() if isinstance(pairs, Mapping) else pairs
    for item in items:
        if isinstance(item, Mapping):
            key, value = item.get("key"), item.get("value")
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            key, value = item
        else:
            continue
        if key is None or value is None or isinstance(value, (dict, list)):
            continue
        if len(result) >= MAX_TAGS:
            break
        result[clip(key, MAX_TAG_LENGTH)] = clip(value, MAX_TAG_LENGTH)
    return result


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 strings (Z or offset) and Unix seconds; None when absent or unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                return datetime.fromtimestamp(float(text), tz=UTC)
            except (ValueError, OverflowError, OSError):
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def require(mapping: Any, key: str, what: str) -> Any:
    """mapping[key], or UnsupportedPayload naming what is missing."""
    if not isinstance(mapping, Mapping) or mapping.get(key) in (None, ""):
        raise UnsupportedPayload(f"{what}: missing '{key}'")
    return mapping[key]


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UnsupportedPayload(f"{what} must be an object")
    return value


SEVERITY_WORDS: dict[str, Severity] = {
    "fatal": Severity.CRITICAL, "critical": Severity.CRITICAL, "crit": Severity.CRITICAL,
    "page": Severity.CRITICAL, "emergency": Severity.CRITICAL, "alert": Severity.CRITICAL, "p1": Severity.CRITICAL,
    "error": Severity.HIGH, "high": Severity.HIGH, "err": Severity.HIGH, "major": Severity.HIGH, "p2": Severity.HIGH,
    "warning": Severity.MEDIUM, "warn": Severity.MEDIUM, "medium": Severity.MEDIUM, "med": Severity.MEDIUM,
    "minor": Severity.MEDIUM, "p3": Severity.MEDIUM,
    "info": Severity.LOW, "low": Severity.LOW, "notice": Severity.LOW, "p4": Severity.LOW,
    "debug": Severity.INFO, "none": Severity.INFO, "ok": Severity.INFO, "p5": Severity.INFO,
}


def severity_from_word(word: Any, default: Severity = Severity.MEDIUM) -> Severity:
    """fatal->critical, error->high, warning->medium, info->low, debug->info; unknown -> default."""
    if not isinstance(word, str):
        return default
    return SEVERITY_WORDS.get(word.strip().lower(), default)
