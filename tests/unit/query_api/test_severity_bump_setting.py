"""The workspace's severity bump setting (issue 10.3): off when unset, prod by default, durations as
everywhere else, nonsense refused (422)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from signalcraft_query_api.adapters.config_api import WorkspaceIn
from signalcraft_query_api.domain.config import workspace_configured


def test_unset_is_off():
    assert workspace_configured("ws-1", WorkspaceIn(name="w").settings()).event.severity_bump is None


def test_count_within_and_the_default_environment():
    body = WorkspaceIn(name="w", severity_bump={"count": 12, "within": "5m"})
    bump = workspace_configured("ws-1", body.settings()).event.severity_bump
    assert bump is not None and (bump.count, bump.within_seconds, bump.environments) == (12, 300, ["prod"])


def test_chosen_environments_are_kept_lower_case():
    body = WorkspaceIn(name="w", severity_bump={"count": 3, "within": 90, "environments": ["Prod", "staging"]})
    bump = workspace_configured("ws-1", body.settings()).event.severity_bump
    assert bump is not None and (bump.within_seconds, bump.environments) == (90, ["prod", "staging"])


@pytest.mark.parametrize("bad", [{"count": 1, "within": "5m"}, {"count": 3, "within": "soon"},
                                 {"count": 3, "within": "8d"}, {"count": 3, "within": "5m", "environments": []},
                                 {"within": "5m"}])
def test_nonsense_is_refused(bad: dict):
    with pytest.raises(ValidationError):
        WorkspaceIn(name="w", severity_bump=bad)


def test_the_timeline_shows_the_raise_with_its_reason():
    from signalcraft_schemas import Envelope, Severity
    from signalcraft_schemas.events import GroupSeverityRaised

    from signalcraft_query_api.domain.projection import group_row, timeline_entry

    from ..builders import make_group

    raised = GroupSeverityRaised(group=make_group(severity=Severity.HIGH, count=12), from_severity=Severity.MEDIUM,
                                 to_severity=Severity.HIGH, reason="12 alerts within 5m in prod", alerts=12,
                                 within_seconds=300, environment="prod")
    env = Envelope.wrap(raised, workspace_id="ws-1", key="k", correlation_id="c", occurred_at=raised.group.last_seen_at)
    entry = timeline_entry(env)
    assert entry["kind"] == "severity_raised"
    assert {k: entry["detail"][k] for k in ("from_severity", "to_severity", "reason", "severity")} == {
        "from_severity": "medium", "to_severity": "high", "reason": "12 alerts within 5m in prod", "severity": "high"}
    assert group_row(env)["severity"] == "high"
