"""A source gone silent raises an alert of its own (issue 11.2).

Delivery health flags an integration quiet for much longer than its usual gap (`read_views.silence`).
An integration with the option `alert_when_silent=true` also raises, once per silence, an alert of
SignalCraft's own into the normal pipeline (alerts.normalized: grouping, router, notifier), and resolves
it when the integration speaks again (or is no longer watched: disabled, deleted, option off).

Which silence was alerted on is stored (`query.silence_alerts`): a silence is the quiet that follows
one last webhook, so the same last webhook never raises twice, across restarts too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from signalcraft_schemas import Envelope, NormalizedAlert, Severity
from signalcraft_schemas.alerts import AlertStatus
from signalcraft_schemas.events import AlertNormalized

from .read_views import MIN_SILENCE, Silence, silence

# SignalCraft's own alerts: their source, and the integration they come through (no webhook's).
SIGNALCRAFT = "signalcraft"
ALERT_WHEN_SILENT = "alert_when_silent"  # integration option: "true" raises the alert (default off)
SEVERITY_OPTION = "silent_alert_severity"  # its severity (default medium)
ENVIRONMENT_OPTION = "silent_alert_environment"  # its environment (default the integration's default_environment, or prod)
PROJECT_OPTION = "default_project"  # its project, as for the integration's own alerts (default signalcraft)
DEFAULT_SEVERITY = Severity.MEDIUM
DEFAULT_ENVIRONMENT = "prod"  # a monitoring gap is a production matter unless the integration says otherwise
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0", "")
_ENVIRONMENTS = {"production": "prod", "prd": "prod", "live": "prod", "stage": "staging", "stg": "staging",
                 "development": "dev", "local": "dev"}  # ingest's usual aliases (its normalize_environment)
_PROVIDERS = {"pagerduty": "PagerDuty", "cloudwatch": "CloudWatch"}


def silence_options_error(options: Mapping[str, str]) -> str | None:
    """Why the silence options cannot be used, or None: a yes/no and a severity."""
    if ALERT_WHEN_SILENT in options and options[ALERT_WHEN_SILENT].strip().lower() not in (*_TRUE, *_FALSE):
        return f"the option {ALERT_WHEN_SILENT} must be true or false, got {options[ALERT_WHEN_SILENT]!r}"
    if SEVERITY_OPTION in options and options[SEVERITY_OPTION].strip().lower() not in set(Severity):
        return (f"the option {SEVERITY_OPTION} must be one of {', '.join(Severity)}, "
                f"got {options[SEVERITY_OPTION]!r}")
    return None


def alerts_when_silent(options: Mapping[str, str]) -> bool:
    return options.get(ALERT_WHEN_SILENT, "").strip().lower() in _TRUE


@dataclass(frozen=True)
class Watched:
    """An integration with the option set (on or off), as the check sees it; its webhook history over
    the history window is read only where it can matter (`needs_history`)."""

    integration_id: str
    workspace_id: str
    provider: str
    name: str
    options: Mapping[str, str]
    enabled: bool
    last_webhook_at: datetime | None
    webhooks: int = 0
    first_at: datetime | None = None

    @property
    def watching(self) -> bool:
        return self.enabled and alerts_when_silent(self.options)


@dataclass(frozen=True)
class SilenceAlert:
    """The stored alert about one silence: the one that followed the webhook at `quiet_since`."""

    integration_id: str
    workspace_id: str
    quiet_since: datetime
    alert: NormalizedAlert  # as raised (its resolution repeats it)
    raised_at: datetime
    resolved_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True)
class Raise:
    integration: Watched
    silence: Silence
    quiet_since: datetime


@dataclass(frozen=True)
class Resolve:
    stored: SilenceAlert
    reason: str  # spoke_again | not_watched


Step = Raise | Resolve


def needs_history(watched: Watched, stored: SilenceAlert | None, now: datetime) -> bool:
    """Could it be raised now? Watched, spoke once, quiet for at least MIN_SILENCE (nothing shorter is
    a silence), and this silence not alerted on yet. Only then is its history worth a query."""
    if not watched.watching or watched.last_webhook_at is None:
        return False
    if stored is not None and (stored.open or stored.quiet_since == watched.last_webhook_at):
        return False
    return now - watched.last_webhook_at > MIN_SILENCE


def decide(watched: Watched | None, stored: SilenceAlert | None, now: datetime) -> Step | None:
    """One integration: raise (silent, not alerted on for this silence), resolve (the open alert's
    integration spoke again, or is not watched any more), or nothing."""
    if stored is not None and stored.open:
        if watched is None or not watched.watching:
            return Resolve(stored, "not_watched")
        if watched.last_webhook_at is not None and watched.last_webhook_at > stored.quiet_since:
            return Resolve(stored, "spoke_again")
        return None
    if watched is None or not needs_history(watched, stored, now):
        return None
    assert watched.last_webhook_at is not None
    quiet = silence(watched.webhooks, watched.first_at, watched.last_webhook_at, now)
    return Raise(watched, quiet, watched.last_webhook_at) if quiet.silent else None


def steps(watched: Mapping[str, Watched], stored: Mapping[str, SilenceAlert], now: datetime) -> list[Step]:
    """Every integration's step; resolutions first (a new silence of one whose last alert is still open
    is raised by the next pass, after the old one is resolved)."""
    decided = [decide(watched.get(i), stored.get(i), now) for i in sorted(watched.keys() | stored.keys())]
    return sorted((s for s in decided if s is not None), key=lambda s: isinstance(s, Raise))


def with_history(watched: Mapping[str, Watched], history: Mapping[str, tuple[int, datetime | None]]) -> dict[str, Watched]:
    return {i: replace(w, webhooks=history[i][0], first_at=history[i][1]) if i in history else w
            for i, w in watched.items()}


# --- the alert -------------------------------------------------------------------------------------


def group_key(integration_id: str) -> str:
    """Stable per integration: every silence of one integration is the same problem."""
    return f"{SIGNALCRAFT}:silent:{integration_id}"


def delivery_id(integration_id: str, quiet_since: datetime, what: str) -> str:
    """No webhook carried it: a delivery id that says so (and which silence, raised or resolved)."""
    return f"{SIGNALCRAFT}:silence:{integration_id}:{quiet_since.isoformat()}:{what}"


_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def duration(seconds: float) -> str:
    """90 -> 1m 30s, 10800 -> 3h, 9000 -> 2h 30m, 7205 -> 2h: the largest unit, and the next if any."""
    whole = max(0, int(seconds))
    for n, (unit, size) in enumerate(_UNITS):
        if whole >= size or size == 1:
            text = f"{whole // size}{unit}"
            if n + 1 < len(_UNITS) and (rest := whole % size // _UNITS[n + 1][1]):
                text += f" {rest}{_UNITS[n + 1][0]}"
            return text
    return "0s"


def title(watched: Watched, quiet: Silence) -> str:
    provider = _PROVIDERS.get(watched.provider, watched.provider.capitalize())
    silent_for = duration(quiet.silent_for_seconds or 0)
    usual = f" (usually every {duration(quiet.usual_gap_seconds)})" if quiet.usual_gap_seconds else ""
    return f"{provider} integration '{watched.name}' silent for {silent_for}{usual}"


def environment(options: Mapping[str, str]) -> str:
    named = (options.get(ENVIRONMENT_OPTION) or options.get("default_environment") or "").strip().lower()
    return _ENVIRONMENTS.get(named, named) or DEFAULT_ENVIRONMENT


def raised_alert(step: Raise, now: datetime) -> NormalizedAlert:
    w, since = step.integration, step.quiet_since
    severity = (w.options.get(SEVERITY_OPTION) or DEFAULT_SEVERITY).strip().lower()
    return NormalizedAlert(
        source=SIGNALCRAFT, source_event_id=delivery_id(w.integration_id, since, "raised"),
        project=(w.options.get(PROJECT_OPTION) or "").strip() or SIGNALCRAFT, environment=environment(w.options),
        severity=Severity(severity), fingerprint=group_key(w.integration_id), title=title(w, step.silence),
        description=(f"No webhook from the {w.provider} integration '{w.name}' ({w.integration_id}) since "
                     f"{since.isoformat(timespec='seconds')}. Check the sender's webhook settings, or whether "
                     "the source itself is down. Resolved when it sends again."),
        tags={"integration_id": w.integration_id, "integration": w.name, "provider": w.provider},
        occurred_at=now)


def resolved_alert(step: Resolve, now: datetime) -> NormalizedAlert:
    stored = step.stored
    return stored.alert.model_copy(update={
        "status": AlertStatus.RESOLVED, "occurred_at": now,
        "source_event_id": delivery_id(stored.integration_id, stored.quiet_since, "resolved")})


def alert_of(step: Step, now: datetime) -> NormalizedAlert:
    return raised_alert(step, now) if isinstance(step, Raise) else resolved_alert(step, now)


def step_integration(step: Step) -> str:
    return step.integration.integration_id if isinstance(step, Raise) else step.stored.integration_id


def step_workspace(step: Step) -> str:
    return step.integration.workspace_id if isinstance(step, Raise) else step.stored.workspace_id


def event(step: Step, alert: NormalizedAlert, now: datetime) -> Envelope[AlertNormalized]:
    """The alerts.normalized event, as ingest would emit it: keyed by the group key. Its integration
    is SignalCraft (no webhook's), so the silent integration's webhook counts stay its own."""
    key, delivery = group_key(step_integration(step)), alert.source_event_id
    return Envelope.wrap(AlertNormalized(alert=alert, group_key=key, integration_id=SIGNALCRAFT, delivery_id=delivery),
                         workspace_id=step_workspace(step), key=key, correlation_id=delivery, occurred_at=now)


def raised_record(step: Raise, alert: NormalizedAlert, now: datetime) -> SilenceAlert:
    w = step.integration
    return SilenceAlert(integration_id=w.integration_id, workspace_id=w.workspace_id, quiet_since=step.quiet_since,
                        alert=alert, raised_at=now)


def stored_alert(row: Mapping[str, Any]) -> SilenceAlert:
    return SilenceAlert(integration_id=row["integration_id"], workspace_id=row["workspace_id"],
                        quiet_since=row["quiet_since"], alert=NormalizedAlert.model_validate(row["alert"]),
                        raised_at=row["raised_at"], resolved_at=row["resolved_at"])


def watched_of(rows: Iterable[Mapping[str, Any]]) -> dict[str, Watched]:
    return {r["integration_id"]: Watched(
        integration_id=r["integration_id"], workspace_id=r["workspace_id"], provider=r["provider"], name=r["name"],
        options=r["options"] or {}, enabled=bool(r["enabled"]), last_webhook_at=r["last_webhook_at"]) for r in rows}
