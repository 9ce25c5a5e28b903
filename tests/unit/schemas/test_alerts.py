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
    assert len(EVENT_TYPES) == 17


def test_group_snapshot_count_must_be_positive():
    with pytest.raises(ValidationError):
        make_group(count=0)
    with pytest.raises(ValidationError):
        GroupUpdated(group=make_group(), alerts_added=0)
