"""classify: wait as told, retry with backoff, or give up."""

from __future__ import annotations

from signalcraft_notifier.domain.slack_errors import Classified, Disposition, classify


def test_rate_limits_wait_as_told():
    for error, status in [(None, 429), ("ratelimited", 200), ("rate_limited", None)]:
        assert classify(error, status, "7") == Classified(Disposition.RETRY_AFTER, "ratelimited", 7.0), (error, status)


def test_retry_after_defaults_caps_and_tolerates_garbage():
    assert classify(None, 429).retry_after_s == 1.0
    assert classify(None, 429, "600").retry_after_s == 60.0
    assert classify(None, 429, "soon").retry_after_s == 1.0
    assert classify(None, 429, "").retry_after_s == 1.0
    assert classify(None, 429, "-5").retry_after_s == 0.0
    assert classify(None, 429, "2.5").retry_after_s == 2.5


def test_configuration_errors_are_terminal():
    for error in ["invalid_auth", "channel_not_found", "not_in_channel", "is_archived"]:
        assert classify(error, 200) == Classified(Disposition.TERMINAL, error, None), error


def test_terminal_error_wins_over_a_5xx_status():
    assert classify("channel_not_found", 503).disposition == Disposition.TERMINAL


def test_transient_failures_retry_with_backoff():
    assert classify(None, 503) == Classified(Disposition.RETRY, "http_503")
    assert classify(None, 500).disposition == Disposition.RETRY
    assert classify("connection_error:ConnectError", None) == Classified(Disposition.RETRY, "connection_error:ConnectError")
    assert classify(None, None) == Classified(Disposition.RETRY, "unknown_error")
    assert classify("internal_error", 200).disposition == Disposition.RETRY
    assert classify("something_new", 200).disposition == Disposition.RETRY
