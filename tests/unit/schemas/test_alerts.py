"""Severity order, NormalizedAlert validation, the event registry."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from signalcraft_schemas import Severity
from signalcraft_schemas.events import EVENT_TYPES, GroupOpened, GroupUpdated

from ..builders import at, make_alert, make_group

ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def test_severity_ranks_are_strictly_increasing():
    assert [s.rank for s in ORDER] == [0, 1, 2, 3, 4]


def test_at_least_follows_rank_for_every_pair():
    for i, a in enumerate(ORDER):
        for j, b in enumerate(ORDER):
            assert a.at_least(b) is (i >= j), (a, b)
    assert Severity("critical") is Severity.CRITICAL
    with pytest.raises(ValueError):
        Severity("fatal")


def test_alert_is_frozen_and_rejects_unknown_fields():
    alert = make_alert()
    with pytest.raises(ValidationError):
        alert.title = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        make_alert(color="red")
    with pytest.raises(ValidationError):
        make_alert(occurred_at=datetime(2024, 5, 1))
    with pytest.raises(ValidationError):
        make_alert(fingerprint="")


def test_with_time_replaces_only_the_time():
    alert = make_alert()
    moved = alert.with_time(at(30))
    assert moved.occurred_at == at(30)
    assert moved.model_copy(update={"occurred_at": alert.occurred_at}) == alert


def test_registry_maps_each_type_to_its_model():
    assert EVENT_TYPES["group.opened"] is GroupOpened
    assert all(model.TYPE == name for name, model in EVENT_TYPES.items())
    # 17 + the issue 9 lifecycle events + webhooks.throttled (issue 8) + issue 10's (several helpers add some)
    assert len(EVENT_TYPES) >= 27 and "group.severity_raised" in EVENT_TYPES


def test_group_snapshot_count_must_be_positive():
    with pytest.raises(ValidationError):
        make_group(count=0)
    with pytest.raises(ValidationError):
        GroupUpdated(group=make_group(), alerts_added=0)


def test_control_characters_are_removed_from_every_text_field_and_tag():
    """PostgreSQL refuses NUL in text and JSONB: an alert accepted with a 2xx must be storable downstream."""
    alert = make_alert(title="disk\x00 full\x07", description="line\none\ttab\x1b[31m", project="api\x00",
                       source_event_id="e\x00v", fingerprint="f\x7fp", environment="pr\x00od", link="https://x/\x00",
                       tags={"re\x00gion": "eu\x00-west", "ok": "plain"})
    assert (alert.title, alert.description, alert.project) == ("disk full", "line\none\ttab[31m", "api")
    assert (alert.source_event_id, alert.fingerprint, alert.environment, alert.link) == ("ev", "fp", "prod", "https://x/")
    assert alert.tags == {"region": "eu-west", "ok": "plain"}
    assert "\\u0000" not in alert.model_dump_json()


def test_an_identity_field_of_only_control_characters_keeps_a_visible_mark():
    assert make_alert(fingerprint="\x00\x00", project="\x08").fingerprint == "\ufffd"
    assert make_alert(project="\x08").project == "\ufffd"
    with pytest.raises(ValidationError):
        make_alert(fingerprint="")  # empty as sent is still refused


def test_times_outside_what_can_be_stored_and_read_back_are_clamped():
    """`9999-12-31T23:59:59-23:59` is year 10000 in UTC: PostgreSQL stores it, Python cannot read it back."""
    from datetime import UTC
    late = make_alert(occurred_at=datetime.fromisoformat("9999-12-31T23:59:59-23:59"))
    assert late.occurred_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    early = make_alert(occurred_at=datetime.fromisoformat("0001-01-01T00:00:00+00:00"))
    assert early.occurred_at == datetime(1970, 1, 1, tzinfo=UTC)
    sent = datetime.fromisoformat("2024-05-01T10:00:00-04:00")
    assert make_alert(occurred_at=sent).occurred_at.utcoffset() == sent.utcoffset()  # in range: kept as sent
