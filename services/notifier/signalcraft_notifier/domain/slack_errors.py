"""Slack failures sorted into: wait as told, retry with backoff, or give up visibly."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Disposition(StrEnum):
    RETRY_AFTER = "retry_after"  # 429: wait Retry-After seconds
    RETRY = "retry"  # transient: backoff
    TERMINAL = "terminal"  # configuration: a person must fix it; retrying cannot help


TERMINAL_ERRORS = {
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text",
    "too_many_attachments", "invalid_blocks", "invalid_arguments", "restricted_action", "message_not_found",
    "cant_update_message", "team_access_not_granted", "ekm_access_denied", "invalid_metadata_format",
    # An interaction's response_url: expired (30 minutes, 5 uses), or refused what we sent.
    "expired_url", "response_url_refused",
}
RATE_LIMITED = {"ratelimited", "rate_limited"}


@dataclass(frozen=True)
class Classified:
    disposition: Disposition
    error: str
    retry_after_s: float | None = None


def classify(error: str | None, http_status: int | None, retry_after: str | None = None) -> Classified:
    code = error or (f"http_{http_status}" if http_status else "unknown_error")
    if http_status == 429 or code in RATE_LIMITED:
        try:
            wait = float(retry_after) if retry_after is not None else 1.0
        except ValueError:
            wait = 1.0
        return Classified(Disposition.RETRY_AFTER, "ratelimited", max(0.0, min(wait, 60.0)))
    if code in TERMINAL_ERRORS:
        return Classified(Disposition.TERMINAL, code)
    return Classified(Disposition.RETRY, code)


def retryable(failure: Classified | None) -> bool:
    """Worth another call: Slack failed, and not for a reason only a person can fix."""
    return failure is not None and failure.disposition != Disposition.TERMINAL
