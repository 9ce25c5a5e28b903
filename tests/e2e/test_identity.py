"""Users, roles and tokens on the real system (issue 11.1, the role matrix of 11.7): every /api route
of the running query-api (its OpenAPI route table) × each role, allowed or 403; the same routes with
another workspace's ids, 404; token expiry, revocation and last use; commands recorded with the
acting user; a Slack click named as its linked member; OIDC JWTs checked against a JWKS served over
local HTTP with a locally generated RSA key."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from signalcraft_devstack.admin import sentry_headers, wait_until
from signalcraft_devstack.fake_slack import click_payload, interaction_body, signed_headers
from signalcraft_devstack.stack import Stack
from signalcraft_query_api.cli import app as cli_app
from signalcraft_query_api.domain.route_access import LISTS_OWN_WORKSPACES, ROUTE_NEEDS

from .conftest import Tenant, make_tenant
from .sentry_payloads import event_alert

pytestmark = pytest.mark.e2e

ROLES = ("owner", "admin", "member")
RANK = {"member": 1, "admin": 2, "owner": 3}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Workspace:
    """A tenant with a group, and a token per role (service tokens, made by the admin token)."""

    tenant: Tenant
    group_id: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.tenant.workspace_id


class Api:
    def __init__(self, stack: Stack) -> None:
        self.url = stack.url("query-api")
        self.admin = stack.admin_token
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        """The answer; of an endless event stream (GET /api/stream), its status and headers only."""
        with self.http.stream(method, path, headers=bearer(token) if token else {}, **kwargs) as response:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                response.read()
        return response

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """As the admin token (the super-user), expecting success."""
        response = self.call(method, path, self.admin, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def token(self, workspace_id: str, role: str, **extra: Any) -> dict[str, Any]:
        return self.ok("POST", "/api/tokens", json={"workspace_id": workspace_id, "role": role,
                                                    "name": f"{role}-{secrets.token_hex(2)}", **extra})

    def member(self, workspace_id: str, role: str = "member", **extra: Any) -> dict[str, Any]:
        email = f"{role}-{secrets.token_hex(4)}@example.com"
        return self.ok("POST", f"/api/workspaces/{workspace_id}/members", json={"email": email, "role": role, **extra})


def open_group(tenant: Tenant) -> str:
    body = event_alert(str(secrets.randbelow(10**9)), "production", "error")
    response = httpx.post(tenant.webhook_url, content=body, headers=sentry_headers(body, tenant.secret), timeout=30)
    assert response.status_code == 202, response.text
    return str(wait_until(lambda: next((g["group_id"] for g in tenant.groups()), None), 60,
                          what="the group in the read model"))


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[Api]:
    client = Api(stack)
    yield client
    client.http.close()


def make_workspace(stack: Stack, api: Api) -> Workspace:
    tenant = make_tenant(stack)
    workspace = Workspace(tenant, open_group(tenant))
    workspace.tokens = {role: api.token(tenant.workspace_id, role)["token"] for role in ROLES}
    return workspace


@pytest.fixture(scope="module")
def ours(stack: Stack, api: Api) -> Workspace:
    return make_workspace(stack, api)


@pytest.fixture(scope="module")
def theirs(stack: Stack, api: Api) -> Workspace:
    return make_workspace(stack, api)


@pytest.fixture(scope="module")
def routes(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    """The running app's /api routes, from its own route table (the OpenAPI document)."""
    document = api.http.get("/openapi.json").json()
    return sorted((method.upper(), path, operation) for path, operations in document["paths"].items()
                  if path.startswith("/api/") for method, operation in operations.items()
                  if method in ("get", "post", "put", "patch", "delete"))


# --- a request for each route, with ids of one workspace -----------------------------------------

def id_factories(api: Api, workspace: Workspace) -> dict[str, Callable[[], str]]:
    """A real id of `workspace` per kind of path parameter; fresh where the route may delete it."""
    ws = workspace.id
    return {
        "workspace_id": lambda: ws,
        "group_id": lambda: workspace.group_id,
        "action": lambda: "ack",
        "integration_id": lambda: api.ok("POST", "/api/integrations", json={
            "workspace_id": ws, "provider": "sentry", "name": "matrix"})["integration_id"],
        "rule_id": lambda: api.ok("POST", "/api/routing-rules", json={
            "workspace_id": ws, "name": "matrix", "channel": "#matrix", "position": 900})["rule_id"],
        "token_id": lambda: api.token(ws, "member")["token_id"],
        "user_id": lambda: api.member(ws)["user_id"],
        "policy_id": lambda: api.ok("POST", "/api/escalation-policies", json={
            "workspace_id": ws, "name": "matrix", "levels": [{"after": "5m", "targets": ["#matrix"]}]})["policy_id"],
        "schedule_id": lambda: api.ok("POST", "/api/schedules", json={
            "workspace_id": ws, "name": "matrix", "users": ["<@U0MATRIX>"], "time_zone": "UTC",
            "start_date": "2026-01-05", "handoff_time": "09:00"})["schedule_id"],
    }


def request_for(api: Api, workspace: Workspace, path: str, operation: dict[str, Any]) -> dict[str, Any]:
    """Path ids of `workspace`; its id as the `workspace_id` query parameter and in any JSON body."""
    factories = id_factories(api, workspace)
    params = re.findall(r"{(\w+)}", path)
    missing = [p for p in params if p not in factories]
    assert not missing, f"{path}: no id factory for {missing}; add one to id_factories"
    url = path
    for param in params:
        url = url.replace(f"{{{param}}}", factories[param]())
    query = {p["name"]: workspace.id for p in operation.get("parameters", [])
             if p["in"] == "query" and p["name"] == "workspace_id"}
    body = {"json": {"workspace_id": workspace.id}} if "requestBody" in operation else {}
    return {"path": url, "params": query, **body}


def refused_as_unknown(response: httpx.Response) -> bool:
    """The access check's 404: the same for another workspace's id as for an id of nothing."""
    return response.status_code == 404 and response.json().get("detail") == "not found"


def passed_the_access_check(response: httpx.Response) -> bool:
    """The request reached the endpoint: any answer but 401, 403 and the access check's 404 (a 422 is
    its body's fault; a 404 saying e.g. "no Slack connection" is the endpoint's own)."""
    return response.status_code not in (401, 403) and not refused_as_unknown(response)


# Routes the admin token is not sent to here: they act on every workspace at once (a rebuild empties the
# read models while it replays, which other tests sharing the stack would see); their own tests call them.
EVERY_WORKSPACE_AT_ONCE = {"POST /api/admin/rebuild-read-models"}


def test_every_route_of_the_running_app_declares_its_need(routes: list[tuple[str, str, dict[str, Any]]]):
    undeclared = [f"{method} {path}" for method, path, _ in routes if f"{method} {path}" not in ROUTE_NEEDS]
    assert not undeclared, f"no declared need (domain/route_access.ROUTE_NEEDS): {undeclared}"


def test_role_matrix_each_role_on_each_route_is_allowed_or_403(api: Api, ours: Workspace,
                                                               routes: list[tuple[str, str, dict[str, Any]]]):
    wrong: list[str] = []
    for method, path, operation in routes:
        key = f"{method} {path}"
        need = ROUTE_NEEDS[key]
        names_workspace = "{" in path or "requestBody" in operation or any(
            p["name"] == "workspace_id" for p in operation.get("parameters", []))
        for role in ROLES:
            allowed = need.value != "superuser" and RANK[role] >= RANK[need.value] and (
                names_workspace or key in LISTS_OWN_WORKSPACES)
            response = api.call(method, token=ours.tokens[role], **request_for(api, ours, path, operation))
            if allowed != passed_the_access_check(response) or (not allowed and response.status_code != 403):
                wrong.append(f"{role} {key}: {response.status_code} {response.text[:120]}")
        anonymous = api.call(method, token=None, **request_for(api, ours, path, operation))
        if anonymous.status_code != 401:
            wrong.append(f"no token {key}: {anonymous.status_code}")
        if key in EVERY_WORKSPACE_AT_ONCE:
            continue
        as_superuser = api.call(method, token=api.admin, **request_for(api, ours, path, operation))
        if not passed_the_access_check(as_superuser):
            wrong.append(f"admin token {key}: {as_superuser.status_code} {as_superuser.text[:120]}")
    assert not wrong, "\n".join(wrong)


def test_another_workspaces_ids_answer_404_on_every_route(api: Api, ours: Workspace, theirs: Workspace,
                                                          routes: list[tuple[str, str, dict[str, Any]]]):
    wrong: list[str] = []
    for method, path, operation in routes:
        key = f"{method} {path}"
        request = request_for(api, theirs, path, operation)
        if request["path"] == path and not request["params"] and "json" not in request:
            continue  # names no workspace: nothing of theirs to ask for (GET /api/me, lists of one's own)
        expected = 403 if ROUTE_NEEDS[key].value == "superuser" else 404
        response = api.call(method, token=ours.tokens["owner"], **request)
        if response.status_code != expected or (expected == 404 and not refused_as_unknown(response)):
            wrong.append(f"{key}: {response.status_code} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)


def test_lists_show_only_the_callers_workspace(api: Api, ours: Workspace, theirs: Workspace):
    owner = ours.tokens["owner"]
    listed = api.call("GET", "/api/workspaces", owner).json()
    assert [w["workspace_id"] for w in listed] == [ours.id]
    tokens = api.call("GET", "/api/tokens", owner).json()
    assert tokens and {t["workspace_id"] for t in tokens} == {ours.id}
    assert all("token" not in t and "token_hash" not in t and t["prefix"].startswith("sc_") for t in tokens)
    me = api.call("GET", "/api/me", ours.tokens["member"]).json()
    assert me["workspaces"] == {ours.id: "member"} and not me["superuser"]
    everyone = {w["workspace_id"] for w in api.ok("GET", "/api/workspaces")}
    assert {ours.id, theirs.id} <= everyone  # the admin token sees every workspace


def test_a_token_is_shown_once_stored_hashed_and_records_its_last_use(api: Api, ours: Workspace):
    created = api.token(ours.id, "member", expires="30d")
    token, token_id = created["token"], created["token_id"]
    assert token.startswith(f"sc_{token_id}_") and created["prefix"] == f"sc_{token_id}_"
    [stored] = ours.tenant.sql("select token_hash from query.api_tokens where token_id = %s", token_id)
    assert token not in stored[0] and token.split("_", 2)[2] not in stored[0]

    def listed() -> dict[str, Any]:
        return next(t for t in api.ok("GET", "/api/tokens", params={"workspace_id": ours.id})
                    if t["token_id"] == token_id)

    assert listed()["last_used_at"] is None and "token" not in listed()
    assert api.call("GET", "/api/me", token).status_code == 200
    assert listed()["last_used_at"] is not None
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert api.call("GET", "/api/me", wrong_secret).status_code == 401


def test_a_revoked_token_and_an_expired_token_are_refused(api: Api, ours: Workspace):
    revoked = api.token(ours.id, "admin")
    assert api.call("GET", "/api/me", revoked["token"]).status_code == 200
    owner = ours.tokens["owner"]
    assert api.call("DELETE", f"/api/tokens/{revoked['token_id']}", owner).status_code == 204
    refused = api.call("GET", "/api/me", revoked["token"])
    assert (refused.status_code, refused.json()["detail"]) == (401, "token revoked")
    assert api.call("DELETE", f"/api/tokens/{revoked['token_id']}", owner).status_code == 204  # idempotent

    expiring = api.token(ours.id, "member", expires="2s")
    # Works until it expires (if this machine is slow, it may already have: either way it ends refused).
    wait_until(lambda: api.call("GET", "/api/me", expiring["token"]).status_code == 401, 60,
               what="the 2-second token expiring")
    assert api.call("GET", "/api/me", expiring["token"]).json()["detail"] == "token expired"


def test_nobody_grants_above_their_role(api: Api, ours: Workspace):
    admin = ours.tokens["admin"]
    assert api.call("POST", "/api/tokens", admin, json={"workspace_id": ours.id, "role": "member",
                                                        "name": "x"}).status_code == 403  # tokens are owners'
    owner = ours.tokens["owner"]
    member = api.member(ours.id, "member")
    too_high = api.call("POST", "/api/tokens", owner, json={"workspace_id": ours.id, "role": "admin", "name": "x",
                                                            "user_id": member["user_id"]})
    assert too_high.status_code == 403  # a personal token carries at most its member's role


def test_commands_record_the_acting_user_and_a_removed_members_tokens_stop(api: Api, ours: Workspace):
    member = api.member(ours.id, "member")
    personal = api.token(ours.id, "member", user_id=member["user_id"])["token"]
    answer = api.call("POST", f"/api/alert-groups/{ours.group_id}/ack", personal, params={"wait": "true"},
                      json={"by": "someone-else"})
    assert answer.status_code in (200, 409), answer.text
    assert answer.json()["actor"] == f"user:{member['user_id']}"  # `by` is the admin token's only
    if answer.status_code == 200:
        assert answer.json()["group"]["acknowledged_by"] == f"user:{member['user_id']}"
    owner = ours.tokens["owner"]
    assert api.call("DELETE", f"/api/workspaces/{ours.id}/members/{member['user_id']}", owner).status_code == 204
    assert api.call("GET", "/api/me", personal).status_code == 401


def test_a_slack_click_by_a_linked_user_is_recorded_as_the_member(stack: Stack, api: Api):
    team, slack_user = f"T{secrets.token_hex(4).upper()}", "U0LINKED"
    tenant = make_tenant(stack)
    tenant.admin.connect_slack(tenant.workspace_id, "xoxb-test-token", "linked-signing-secret", team_id=team)
    member = api.member(tenant.workspace_id, "member", slack_team_id=team, slack_user_id=slack_user)
    group_id = open_group(tenant)
    message = wait_until(lambda: next((m for m in tenant.slack_messages() if not m.get("thread_ts")), None), 60,
                         what="the group's Slack message")
    value = next(e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == "signalcraft.ack")
    payload = click_payload(team_id=team, user_id=slack_user, action_id="signalcraft.ack", value=value,
                            channel=message["channel"], message_ts=message["ts"],
                            response_url=f"{stack.slack_url}/actions/{team}/1/token")
    body = interaction_body(payload)
    clicked = httpx.post(f"{stack.url('ingest')}/slack/interactions", content=body,
                         headers=signed_headers(body, "linked-signing-secret"), timeout=30)
    assert clicked.status_code == 200, clicked.text
    acked = wait_until(lambda: next((g for g in tenant.groups() if g["group_id"] == group_id
                                     and g["acknowledged_by"]), None), 60, what="the click's ack in the read model")
    assert acked["acknowledged_by"] == f"user:{member['user_id']}"


def test_the_cli_adds_a_member_and_creates_a_token_that_works(stack: Stack, ours: Workspace):
    runner = CliRunner()
    env = {"SIGNALCRAFT_API_URL": stack.url("query-api"), "SIGNALCRAFT_ADMIN_TOKEN": stack.admin_token}

    def cli(*args: str, token: str | None = None) -> Any:
        result = runner.invoke(cli_app, list(args), env={**env, "SIGNALCRAFT_TOKEN": token or ""})
        assert result.exit_code == 0, result.output
        return json.loads(result.output) if result.output.strip().startswith(("{", "[")) else result.output

    added = cli("member", "add", "--workspace", ours.id, "--email", "Cli.User@Example.com", "--role", "admin")
    assert (added["email"], added["role"]) == ("cli.user@example.com", "admin")
    created = cli("token", "create", "--workspace", ours.id, "--role", "member", "--name", "cli", "--expires", "30d")
    assert created["token"].startswith("sc_") and created["expires_at"]
    assert [w["workspace_id"] for w in cli("workspace", "list", token=created["token"])] == [ours.id]
    assert "revoked" in cli("token", "revoke", created["token_id"])
    assert any(m["user_id"] == added["user_id"] for m in cli("member", "list", "--workspace", ours.id))


# --- OIDC: a local issuer (an RSA key, its JWKS over HTTP) and query-api restarted to trust it ----

ISSUER, AUDIENCE = "https://issuer.test.local/", "signalcraft-api"


class Issuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        document = json.dumps({"keys": [jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}]}).encode()

        class Jwks(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def token(self, key: Any = None, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600} | claims
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
def issuer(stack: Stack) -> Iterator[Issuer]:
    """query-api restarted with SIGNALCRAFT_OIDC_* pointing at the local issuer; as it was afterwards."""
    local = Issuer()
    oidc_env = {"SIGNALCRAFT_OIDC_ISSUER": ISSUER, "SIGNALCRAFT_OIDC_AUDIENCE": AUDIENCE,
                "SIGNALCRAFT_OIDC_JWKS_URL": local.jwks_url}
    stack.processes["query-api"].stop()
    stack.start_service("query-api", extra_env=oidc_env)
    stack.wait_ready("query-api")
    try:
        yield local
    finally:
        stack.processes["query-api"].stop()
        stack.start_service("query-api")
        stack.wait_ready("query-api")
        local.server.shutdown()


def test_an_oidc_token_acts_as_the_member_its_subject_or_verified_email_names(issuer: Issuer, api: Api,
                                                                               ours: Workspace):
    by_subject = api.member(ours.id, "admin", oidc_subject=f"sub-{secrets.token_hex(4)}")
    me = api.call("GET", "/api/me", issuer.token(sub=by_subject["oidc_subject"])).json()
    assert (me["kind"], me["user_id"], me["workspaces"]) == ("oidc", by_subject["user_id"], {ours.id: "admin"})

    by_email = api.member(ours.id, "member")
    jwt_by_email = issuer.token(sub="unknown-subject", email=by_email["email"].upper(), email_verified=True)
    assert api.call("GET", "/api/me", jwt_by_email).json()["user_id"] == by_email["user_id"]
    unverified = issuer.token(sub="unknown-subject", email=by_email["email"], email_verified=False)
    assert api.call("GET", "/api/me", unverified).status_code == 403  # valid, but nobody we know

    # Scoped like any caller: its workspace's groups, not another's; a member cannot change rules.
    member_jwt = issuer.token(sub="x", email=by_email["email"])
    assert api.call("GET", f"/api/alert-groups/{ours.group_id}", member_jwt).status_code == 200
    assert api.call("POST", "/api/routing-rules", member_jwt, json={"workspace_id": ours.id}).status_code == 403


def test_an_oidc_token_with_a_bad_issuer_audience_expiry_key_or_signature_is_refused(issuer: Issuer, api: Api,
                                                                                    ours: Workspace):
    user = api.member(ours.id, "member", oidc_subject=f"sub-{secrets.token_hex(4)}")
    subject = user["oidc_subject"]
    assert api.call("GET", "/api/me", issuer.token(sub=subject)).status_code == 200
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "bad issuer": issuer.token(sub=subject, iss="https://evil.example/"),
        "bad audience": issuer.token(sub=subject, aud="someone-else"),
        "expired": issuer.token(sub=subject, exp=int(time.time()) - 3600),
        "unknown kid": issuer.token(sub=subject, kid="not-a-known-key"),
        "signed by another key": issuer.token(other_key, sub=subject),
        "no expiry": jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": subject}, issuer.key, algorithm="RS256",
                                headers={"kid": issuer.kid}),
    }
    answers = {case: api.call("GET", "/api/me", token).status_code for case, token in refused.items()}
    assert answers == {case: 401 for case in refused}
