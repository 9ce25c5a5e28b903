"""`signalcraft`: minimal admin from a terminal, over the query API's config endpoints.

Reads SIGNALCRAFT_API_URL (default http://127.0.0.1:8000) and SIGNALCRAFT_ADMIN_TOKEN.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import httpx
import typer
import yaml

from signalcraft_runtime.crypto import SecretBox
from signalcraft_schemas.durations import InvalidDuration, parse_duration

from .domain.alertmanager_import import InvalidConfig, read_receivers, translate
from .domain.rule_test import render_text

DURATION_HELP = "a duration: 90s, 15m, 4h, 1d or ISO 8601 (PT15M); wins over the minutes option"
DEFAULT_POLICY_HELP = "the default route's escalation policy (a group no rule routes), a policy id"

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
    # SIGNALCRAFT_TOKEN: an API token (sc_…) acting with its role; else the admin token (the super-user).
    token = os.environ.get("SIGNALCRAFT_TOKEN") or os.environ.get("SIGNALCRAFT_ADMIN_TOKEN", "")
    if not token:
        raise typer.BadParameter("set SIGNALCRAFT_ADMIN_TOKEN (make run prints it) or SIGNALCRAFT_TOKEN")
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
                     bump_env: list[str] = typer.Option(["prod"], help="severity bump: environment (repeatable)"),
                     escalation_policy: Optional[str] = typer.Option(None, help=DEFAULT_POLICY_HELP)) -> None:
    body: dict[str, Any] = {"name": name, "workspace_id": workspace_id, "dedup_window_minutes": dedup_window_minutes,
                            "auto_close_minutes": auto_close_minutes, "default_channel": default_channel,
                            "flap_threshold": flap_threshold, "flap_window": _duration(flap_window),
                            "flap_quiet": _duration(flap_quiet), "escalation_policy_id": escalation_policy}
    if bump_count is not None:
        body["severity_bump"] = {"count": bump_count, "within": _duration(bump_within), "environments": bump_env}
    for key, value in (("dedup_window", _duration(dedup_window)), ("auto_close", _duration(auto_close))):
        if value is not None:
            body[key] = value
    _show(_call("POST", "/api/workspaces", json=body))


@workspace_app.command("update")
def workspace_update(workspace_id: str,
                     escalation_policy: Optional[str] = typer.Option(None, help=DEFAULT_POLICY_HELP),
                     no_escalation_policy: bool = typer.Option(False, "--no-escalation-policy",
                                                               help="the default route escalates no more"),
                     default_channel: Optional[str] = None) -> None:
    """Change some settings of a workspace, keeping the others. Example (a policy needs its workspace
    first): signalcraft workspace update demo --escalation-policy policy-1a2b3c"""
    if escalation_policy and no_escalation_policy:
        raise typer.BadParameter("--escalation-policy or --no-escalation-policy, not both")
    found = [w for w in _call("GET", "/api/workspaces") if w["workspace_id"] == workspace_id]
    if not found:
        typer.echo(f"error: no workspace {workspace_id}", err=True)
        raise typer.Exit(1)
    body = _workspace_body(found[0])
    if escalation_policy or no_escalation_policy:
        body["escalation_policy_id"] = escalation_policy
    if default_channel is not None:
        body["default_channel"] = default_channel
    _show(_call("PUT", f"/api/workspaces/{workspace_id}", json=body))


def _workspace_body(row: dict[str, Any]) -> dict[str, Any]:
    """A workspace as GET /api/workspaces shows it, as the body that saves it unchanged (PUT replaces)."""
    body = {key: row.get(key) for key in ("name", "workspace_id", "dedup_window_minutes", "auto_close_minutes",
                                          "default_channel", "flap_threshold", "escalation_policy_id")}
    for key, column in (("dedup_window", "dedup_window_seconds"), ("auto_close", "auto_close_seconds"),
                        ("flap_window", "flap_window_seconds"), ("flap_quiet", "flap_quiet_seconds")):
        if row.get(column) is not None:
            body[key] = row[column]
    if bump := row.get("severity_bump"):
        body["severity_bump"] = {"count": bump["count"], "within": bump["within_seconds"],
                                 "environments": bump["environments"]}
    return {key: value for key, value in body.items() if value is not None or key == "escalation_policy_id"}


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
             tag_exists: list[str] = typer.Option([], help="a tag key that must be present (repeatable)"),
             matcher: list[str] = typer.Option([], help='Alertmanager-style, e.g. \'severity=~"high|critical"\' '
                                                         "or 'team!=db' (repeatable; regexes are anchored)"),
             continue_: bool = typer.Option(False, "--continue", help="after a match, later rules route it too"),
             mention: str = typer.Option("here_for_high", help="none | here_for_high | usergroup:<S...>"),
             quick_action: list[str] = typer.Option([], help="LABEL=URL_TEMPLATE, e.g. "
                                                     "'Dashboard=https://grafana/d/x?var-svc={project}' (repeatable)"),
             runbook_url: Optional[str] = None, escalate_after_minutes: Optional[int] = None,
             escalate_after: Optional[str] = typer.Option(None, help=DURATION_HELP),
             escalation_policy: Optional[str] = typer.Option(
                 None, help="an escalation policy id (signalcraft policy add); wins over --escalate-after")) -> None:
    """Example: signalcraft rule add --workspace demo --name prod-high --env prod --min-severity high --channel '#oncall'"""
    _show(_call("POST", "/api/routing-rules", json={
        "workspace_id": workspace, "name": name, "channel": channel, "position": position,
        "conditions": {"environments": env, "min_severity": min_severity, "projects": project,
                       "tags": _options(tag), "sources": source, "tag_keys": tag_exists, "matchers": matcher},
        "runbook_url": runbook_url, "escalate_after_minutes": escalate_after_minutes,
        "escalate_after": _duration(escalate_after), "escalation_policy_id": escalation_policy,
        "continue": continue_, "mention": mention,
        "quick_actions": [{"label": label, "url_template": url} for label, url in _options(quick_action).items()]}))


@rule_app.command("test")
def rule_test(workspace: str = typer.Option(...),
              file: Path = typer.Option(..., exists=True, dir_okay=False, help="a JSON alert (or raw payload)"),
              provider: Optional[str] = typer.Option(None, help="the file is this provider's raw payload"),
              as_json: bool = typer.Option(False, "--json", help="print the API's answer as JSON")) -> None:
    """Which rules take the alert, in order, and for each rule that does not, the first failed condition.
    Example: signalcraft rule test --workspace demo --file alert.json --provider sentry"""
    sample = json.loads(file.read_text())
    body = ({"workspace_id": workspace, "provider": provider, "payload": sample} if provider
            else {"workspace_id": workspace, "alert": sample})
    result = _call("POST", "/api/routing-rules/test", json=body)
    if as_json:
        _show(result)
    else:
        typer.echo("\n".join(render_text(result)))


@rule_app.command("import")
def rule_import(config: Path = typer.Argument(..., exists=True, dir_okay=False, help="alertmanager.yml"),
                workspace: str = typer.Option(...),
                receivers: Path = typer.Option(..., exists=True, dir_okay=False,
                                               help="YAML mapping receiver names to channels"),
                position: int = typer.Option(1000, help="the first imported rule's position (then +10 each)"),
                dry_run: bool = typer.Option(False, "--dry-run", help="print the rules, create nothing")) -> None:
    """Turn an Alertmanager route tree into ordered routing rules, and say what could not be translated.
    Example: signalcraft rule import alertmanager.yml --workspace demo --receivers receivers.yml --dry-run"""
    try:
        plan = translate(_yaml(config), read_receivers(_yaml(receivers)), workspace, first_position=position)
    except InvalidConfig as exc:
        raise typer.BadParameter(str(exc)) from None
    for rule in plan.rules:
        body = rule.body
        created = None if dry_run else _call("POST", "/api/routing-rules", json=body)
        flags = " continue" if body["continue"] else ""
        typer.echo(f"{'would create' if dry_run else 'created ' + created['rule_id']}: {body['position']} "
                   f"{body['channel']}{flags} <- {', '.join(body['conditions']['matchers']) or '(every alert)'}"
                   f"  [{rule.path} -> {rule.receiver}]")
    if plan.untranslated:
        typer.echo("not translated:")
        typer.echo("\n".join(f"  - {line}" for line in plan.untranslated))


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{path}: not valid YAML: {exc}") from None


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


# --- members and API tokens (issue 11.1) --------------------------------------------------------

member_app = typer.Typer(help="Workspace members and their roles (owner, admin, member)", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (sc_…): shown once, scoped to one workspace and a role", no_args_is_help=True)
app.add_typer(member_app, name="member")
app.add_typer(token_app, name="token")
ROLES = ("owner", "admin", "member")


def _role(value: str) -> str:
    if value not in ROLES:
        raise typer.BadParameter(f"--role is one of {', '.join(ROLES)}")
    return value


@member_app.command("add")
def member_add(workspace: str = typer.Option(...), email: str = typer.Option(...),
               role: str = typer.Option("member", help="owner, admin or member"), name: Optional[str] = None,
               oidc_subject: Optional[str] = typer.Option(None, help="the `sub` of the user's OIDC tokens"),
               slack_team: Optional[str] = typer.Option(None, help="Slack team id (T…) of --slack-user"),
               slack_user: Optional[str] = typer.Option(None, help="Slack user id (U…): their clicks act as them")) -> None:
    """Adds the user (or changes their role). Example: signalcraft member add --workspace demo --email ann@example.com --role admin"""
    _show(_call("POST", f"/api/workspaces/{workspace}/members", json={
        "email": email, "role": _role(role), "name": name, "oidc_subject": oidc_subject,
        "slack_team_id": slack_team, "slack_user_id": slack_user}))


@member_app.command("list")
def member_list(workspace: str = typer.Option(...)) -> None:
    _show(_call("GET", f"/api/workspaces/{workspace}/members"))


@member_app.command("remove")
def member_remove(user_id: str, workspace: str = typer.Option(...)) -> None:
    _call("DELETE", f"/api/workspaces/{workspace}/members/{user_id}")
    typer.echo(f"removed {user_id} from {workspace}")


@token_app.command("create")
def token_create(workspace: str = typer.Option(...), role: str = typer.Option("member", help="owner, admin or member"),
                 name: str = typer.Option(...), expires: Optional[str] = typer.Option(None, help="e.g. 30d, 12h; never when omitted"),
                 user: Optional[str] = typer.Option(None, help="a member's user id: a personal token acting as them")) -> None:
    """Prints the token once (only its hash is stored). Example: signalcraft token create --workspace demo --role member --name ci --expires 30d"""
    _show(_call("POST", "/api/tokens", json={"workspace_id": workspace, "role": _role(role), "name": name,
                                             "expires": expires, "user_id": user}))


@token_app.command("list")
def token_list(workspace: Optional[str] = typer.Option(None)) -> None:
    _show(_call("GET", "/api/tokens", params={"workspace_id": workspace} if workspace else None))


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    _call("DELETE", f"/api/tokens/{token_id}")
    typer.echo(f"revoked {token_id}")


def main() -> None:
    app()


# --- integrations' lifecycle, Slack install, read-model rebuild (issue 11.3, 11.6) ----------------

admin_app = typer.Typer(help="Operations: rebuild the read models", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@integration_app.command("disable")
def integration_disable(integration_id: str) -> None:
    """Its webhooks are answered 404 "disabled" (and counted) until it is enabled again."""
    _show(_call("PATCH", f"/api/integrations/{integration_id}", json={"enabled": False}))


@integration_app.command("enable")
def integration_enable(integration_id: str) -> None:
    _show(_call("PATCH", f"/api/integrations/{integration_id}", json={"enabled": True}))


@integration_app.command("alert-when-silent")
def integration_alert_when_silent(integration_id: str,
                                  off: bool = typer.Option(False, "--off", help="stop raising it")) -> None:
    """Raise an alert when the integration goes silent (quiet much longer than its usual gap), resolved
    when it sends again; --off stops it (an open one is resolved)."""
    _show(_call("PATCH", f"/api/integrations/{integration_id}", json={"alert_when_silent": not off}))


@integration_app.command("delete")
def integration_delete(integration_id: str) -> None:
    """Its webhooks are answered 410 Gone from then on."""
    _call("DELETE", f"/api/integrations/{integration_id}")
    typer.echo(f"deleted {integration_id}")


@integration_app.command("rotate")
def integration_rotate(integration_id: str,
                       grace: Optional[str] = typer.Option(None, help="how long the old secret still works; "
                                                           "default 24 h (" + DURATION_HELP.split(";")[0] + ")"),
                       revoke_old_now: bool = typer.Option(False, help="refuse the old secret at once"),
                       secret: Optional[str] = typer.Option(None, envvar="SIGNALCRAFT_NEW_SECRET",
                                                            help="the provider's own new secret; else generated")) -> None:
    """A new secret, shown once: configure it on the provider's side before the grace period ends."""
    body: dict[str, Any] = {"grace": _duration(grace), "revoke_old_now": revoke_old_now, "secret": secret}
    _show(_call("POST", f"/api/integrations/{integration_id}/rotate-secret",
                json={k: v for k, v in body.items() if v is not None}))


@integration_app.command("test")
def integration_test(integration_id: str, wait: float = typer.Option(20.0, help="seconds to follow it")) -> None:
    """Send the provider's test notification through the real pipeline and show where it went."""
    _show(_call("POST", f"/api/integrations/{integration_id}/test", params={"wait": wait}))


@slack_app.command("install")
def slack_install(workspace: str = typer.Option(...)) -> None:
    """The "Add to Slack" URL (OAuth v2) for this workspace: open it in a browser within 10 minutes."""
    link = _call("GET", "/api/slack/install", params={"workspace_id": workspace})
    typer.echo(link["authorize_url"])


@slack_app.command("status")
def slack_status(workspace: str = typer.Option(...)) -> None:
    _show(_call("GET", "/api/slack/status", params={"workspace_id": workspace}))


@slack_app.command("disconnect")
def slack_disconnect(workspace: str = typer.Option(...)) -> None:
    _show(_call("DELETE", "/api/slack", params={"workspace_id": workspace}))


@admin_app.command("rebuild-read-models")
def admin_rebuild_read_models(wait: bool = typer.Option(True, help="wait until the row counts stop changing"),
                              settle_s: float = typer.Option(5.0, help="unchanged for this long = caught up")) -> None:
    """Drop query-api's projections (not the configuration) and replay every topic from offset 0."""
    import time

    _show(_call("POST", "/api/admin/rebuild-read-models"))
    last, stable_since = None, time.monotonic()
    while wait:
        rows = _call("GET", "/api/admin/read-models")["rows"]
        if rows != last:
            last, stable_since = rows, time.monotonic()
        elif time.monotonic() - stable_since >= settle_s:
            break
        time.sleep(1.0)
    if wait:
        _show({"rows": last})
