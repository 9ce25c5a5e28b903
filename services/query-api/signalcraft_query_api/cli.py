"""`signalcraft`: minimal admin from a terminal, over the query API's config endpoints.

Reads SIGNALCRAFT_API_URL (default http://127.0.0.1:8000) and SIGNALCRAFT_ADMIN_TOKEN.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import httpx
import typer

from signalcraft_runtime.crypto import SecretBox
from signalcraft_schemas.durations import InvalidDuration, parse_duration

DURATION_HELP = "a duration: 90s, 15m, 4h, 1d or ISO 8601 (PT15M); wins over the minutes option"

app = typer.Typer(help="SignalCraft admin: workspaces, integrations, Slack, routing rules, alert groups.",
                  no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces", no_args_is_help=True)
integration_app = typer.Typer(help="Webhook sources (Sentry, Alertmanager, ...)", no_args_is_help=True)
slack_app = typer.Typer(help="The Slack connection", no_args_is_help=True)
rule_app = typer.Typer(help="Routing rules", no_args_is_help=True)
group_app = typer.Typer(help="Alert groups: ack, unack, snooze, unsnooze, resolve", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(group_app, name="group")
app.add_typer(integration_app, name="integration")
app.add_typer(slack_app, name="slack")
app.add_typer(rule_app, name="rule")


def _client() -> httpx.Client:
    token = os.environ.get("SIGNALCRAFT_ADMIN_TOKEN", "")
    if not token:
        raise typer.BadParameter("set SIGNALCRAFT_ADMIN_TOKEN (make run prints it)")
    return httpx.Client(base_url=os.environ.get("SIGNALCRAFT_API_URL", "http://127.0.0.1:8000"),
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _call(method: str, path: str, **kwargs: Any) -> Any:
    with _client() as client:
        response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        typer.echo(f"error {response.status_code}: {response.text}", err=True)
        raise typer.Exit(1)
    return response.json() if response.content else None


def _duration(value: str | None) -> str | None:
    """A duration as typed ("90s", "15m", "4h", "PT15M"), checked here so a typo fails before any call."""
    if value is None:
        return None
    try:
        parse_duration(value, bare_unit="seconds")
    except InvalidDuration as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _show(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _options(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"--option takes key=value, got {pair!r}")
        result[key] = value
    return result


@app.command()
def keygen() -> None:
    """Print a new SIGNALCRAFT_SECRET_KEY (encrypts integration secrets at rest)."""
    typer.echo(SecretBox.generate_key())


@workspace_app.command("create")
def workspace_create(name: str = typer.Option(...), workspace_id: Optional[str] = typer.Option(None, "--id"),
                     dedup_window_minutes: int = 60, auto_close_minutes: int = 1440,
                     default_channel: Optional[str] = None,
                     dedup_window: Optional[str] = typer.Option(None, help=DURATION_HELP),
                     auto_close: Optional[str] = typer.Option(None, help=DURATION_HELP),
                     flap_threshold: int = typer.Option(3, help="reopens within the flap window before damping"),
                     flap_window: str = typer.Option("1h", help="a duration"),
                     flap_quiet: str = typer.Option("30m", help="quiet for this long and flapping ends"),
                     bump_count: Optional[int] = typer.Option(
                         None, help="severity bump: this many alerts of a group within --bump-within raise it a level"),
                     bump_within: str = typer.Option("5m", help="severity bump: a duration"),
                     bump_env: list[str] = typer.Option(["prod"], help="severity bump: environment (repeatable)")) -> None:
    body: dict[str, Any] = {"name": name, "workspace_id": workspace_id, "dedup_window_minutes": dedup_window_minutes,
                            "auto_close_minutes": auto_close_minutes, "default_channel": default_channel,
                            "flap_threshold": flap_threshold, "flap_window": _duration(flap_window),
                            "flap_quiet": _duration(flap_quiet)}
    if bump_count is not None:
        body["severity_bump"] = {"count": bump_count, "within": _duration(bump_within), "environments": bump_env}
    for key, value in (("dedup_window", _duration(dedup_window)), ("auto_close", _duration(auto_close))):
        if value is not None:
            body[key] = value
    _show(_call("POST", "/api/workspaces", json=body))


@workspace_app.command("list")
def workspace_list() -> None:
    _show(_call("GET", "/api/workspaces"))


@integration_app.command("add")
def integration_add(workspace: str = typer.Option(...), provider: str = typer.Option("sentry"),
                    name: str = typer.Option(...), secret: Optional[str] = typer.Option(None, help="e.g. Sentry's client secret"),
                    option: list[str] = typer.Option([], help="provider option key=value (repeatable)")) -> None:
    """Prints the webhook URL and the secret to configure on the provider's side."""
    _show(_call("POST", "/api/integrations", json={"workspace_id": workspace, "provider": provider, "name": name,
                                                   "secret": secret, "options": _options(option)}))


@integration_app.command("list")
def integration_list(workspace: str = typer.Option(...)) -> None:
    _show(_call("GET", "/api/integrations", params={"workspace_id": workspace}))


@slack_app.command("connect")
def slack_connect(workspace: str = typer.Option(...), bot_token: str = typer.Option(..., envvar="SLACK_BOT_TOKEN"),
                  signing_secret: str = typer.Option(..., envvar="SLACK_SIGNING_SECRET"),
                  team_id: Optional[str] = None) -> None:
    _show(_call("POST", "/api/slack/connect", json={"workspace_id": workspace, "bot_token": bot_token,
                                                    "signing_secret": signing_secret, "team_id": team_id}))


@rule_app.command("add")
def rule_add(workspace: str = typer.Option(...), name: str = typer.Option(...), channel: str = typer.Option(...),
             position: int = 100, env: list[str] = typer.Option([], help="environment (repeatable)"),
             min_severity: Optional[str] = None, project: list[str] = typer.Option([]),
             tag: list[str] = typer.Option([], help="key=value (repeatable)"), source: list[str] = typer.Option([]),
             runbook_url: Optional[str] = None, escalate_after_minutes: Optional[int] = None,
             escalate_after: Optional[str] = typer.Option(None, help=DURATION_HELP)) -> None:
    """Example: signalcraft rule add --workspace demo --name prod-high --env prod --min-severity high --channel '#oncall'"""
    _show(_call("POST", "/api/routing-rules", json={
        "workspace_id": workspace, "name": name, "channel": channel, "position": position,
        "conditions": {"environments": env, "min_severity": min_severity, "projects": project,
                       "tags": _options(tag), "sources": source},
        "runbook_url": runbook_url, "escalate_after_minutes": escalate_after_minutes,
        "escalate_after": _duration(escalate_after)}))


@rule_app.command("list")
def rule_list(workspace: str = typer.Option(...)) -> None:
    _show(_call("GET", "/api/routing-rules", params={"workspace_id": workspace}))


@rule_app.command("delete")
def rule_delete(rule_id: str) -> None:
    _call("DELETE", f"/api/routing-rules/{rule_id}")
    typer.echo(f"deleted {rule_id}")


def _command(group_id: str, action: str, wait: bool, **body: Any) -> None:
    path = f"/api/alert-groups/{group_id}/{action}"
    with _client() as client:
        response = client.post(path, params={"wait": "true"} if wait else None,
                               json={k: v for k, v in body.items() if v is not None})
    _show(response.json())
    if response.status_code >= 400:
        raise typer.Exit(1)


WAIT_HELP = "wait until the group shows the outcome (or the reason it was refused)"


@group_app.command("ack")
def group_ack(group_id: str, by: Optional[str] = None, wait: bool = typer.Option(False, help=WAIT_HELP)) -> None:
    _command(group_id, "ack", wait, by=by)


@group_app.command("unack")
def group_unack(group_id: str, by: Optional[str] = None, wait: bool = typer.Option(False, help=WAIT_HELP)) -> None:
    _command(group_id, "unack", wait, by=by)


@group_app.command("snooze")
def group_snooze(group_id: str, duration: str = typer.Option(..., "--for", help="e.g. 90s, 15m, 4h, PT4H"),
                 by: Optional[str] = None, reason: Optional[str] = None,
                 wait: bool = typer.Option(False, help=WAIT_HELP)) -> None:
    _command(group_id, "snooze", wait, by=by, duration=_duration(duration), reason=reason)


@group_app.command("unsnooze")
def group_unsnooze(group_id: str, by: Optional[str] = None, wait: bool = typer.Option(False, help=WAIT_HELP)) -> None:
    _command(group_id, "unsnooze", wait, by=by)


@group_app.command("resolve")
def group_resolve(group_id: str, by: Optional[str] = None, reason: Optional[str] = None,
                  wait: bool = typer.Option(False, help=WAIT_HELP)) -> None:
    _command(group_id, "resolve", wait, by=by, reason=reason)


# --- escalation policies and on-call schedules (issue 10.1, 10.2) -----------------------------

policy_app = typer.Typer(help="Escalation policies: levels of targets, then repeats", no_args_is_help=True)
schedule_app = typer.Typer(help="On-call schedules: rotations with handoffs and overrides", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(schedule_app, name="schedule")
LEVEL_HELP = ("AFTER=TARGET[,TARGET...], in order, e.g. 5m=#oncall or 10m=<@U123>,schedule:primary; "
              "targets: #channel, C…, <@U…>, <!subteam^S…>, schedule:<id>")


def _level(spec: str) -> dict[str, Any]:
    after, sep, targets = spec.partition("=")
    if not sep or not targets:
        raise typer.BadParameter(f"--level takes AFTER=TARGET[,TARGET...], got {spec!r}")
    return {"after": _duration(after), "targets": [t.strip() for t in targets.split(",") if t.strip()]}


def _override(spec: str) -> dict[str, str]:
    parts = spec.split(",")
    if len(parts) != 3:
        raise typer.BadParameter(f"--override takes USER,START,END (ISO 8601 with offset), got {spec!r}")
    return {"user": parts[0], "start": parts[1], "end": parts[2]}


@policy_app.command("add")
def policy_add(workspace: str = typer.Option(...), name: str = typer.Option(...),
               level: list[str] = typer.Option(..., help=LEVEL_HELP),
               repeat_every: Optional[str] = typer.Option(None, help="repeat the last level this often"),
               repeat_times: int = typer.Option(0, help="... up to this many times")) -> None:
    body: dict[str, Any] = {"workspace_id": workspace, "name": name, "levels": [_level(spec) for spec in level]}
    if repeat_every and repeat_times:
        body["repeat"] = {"every": _duration(repeat_every), "times": repeat_times}
    _show(_call("POST", "/api/escalation-policies", json=body))


@policy_app.command("list")
def policy_list(workspace: str = typer.Option(...)) -> None:
    _show(_call("GET", "/api/escalation-policies", params={"workspace_id": workspace}))


@policy_app.command("delete")
def policy_delete(policy_id: str) -> None:
    _call("DELETE", f"/api/escalation-policies/{policy_id}")
    typer.echo(f"deleted {policy_id}")


@schedule_app.command("add")
def schedule_add(workspace: str = typer.Option(...), name: str = typer.Option(...),
                 user: list[str] = typer.Option(..., help="<@U…>, in rotation order (repeat the option)"),
                 time_zone: str = typer.Option(..., "--tz", help="IANA zone, e.g. Europe/Berlin"),
                 start: str = typer.Option(..., help="first day, YYYY-MM-DD"),
                 handoff: str = typer.Option("09:00", help="local handoff time, HH:MM"),
                 shift: str = typer.Option("weekly", help="daily, weekly or a duration (12h, 3d)"),
                 override: list[str] = typer.Option([], help="USER,START,END (ISO 8601 with offset)")) -> None:
    body = {"workspace_id": workspace, "name": name, "users": user, "time_zone": time_zone, "start_date": start,
            "handoff_time": handoff, "shift": shift, "overrides": [_override(spec) for spec in override]}
    _show(_call("POST", "/api/schedules", json=body))


@schedule_app.command("list")
def schedule_list(workspace: str = typer.Option(...)) -> None:
    _show(_call("GET", "/api/schedules", params={"workspace_id": workspace}))


@schedule_app.command("delete")
def schedule_delete(schedule_id: str) -> None:
    _call("DELETE", f"/api/schedules/{schedule_id}")
    typer.echo(f"deleted {schedule_id}")


@schedule_app.command("show")
def schedule_show(schedule_id: str, next_: int = typer.Option(5, "--next", help="how many handoffs to print"),
                  at: Optional[str] = typer.Option(None, help="from this instant (ISO 8601), default now")) -> None:
    """Who is on call now, then the next handoffs in the schedule's local time."""
    answer = _call("GET", f"/api/schedules/{schedule_id}/handoffs",
                   params={"count": next_} | ({"after": at} if at else {}))
    typer.echo(f"{schedule_id} ({answer['time_zone']}): on call now {answer['on_call'] or 'nobody'}")
    for handoff in answer["handoffs"]:
        tag = " (override)" if handoff["override"] else ""
        typer.echo(f"  {handoff['local']}  -> {handoff['user'] or 'nobody'}{tag}")


def main() -> None:
    app()
