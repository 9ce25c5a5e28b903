"""A local stand-in for the Slack Web API, over real HTTP, for tests and the embedded demo.

slack-sdk's AsyncWebClient is pointed at it with `base_url`. It implements what SignalCraft calls
(chat.postMessage with message metadata, chat.update, conversations.history and .replies with cursor pagination,
auth.test, OAuth v2 install (the /oauth/v2/authorize page, pressing Allow, and oauth.v2.access), and
the `response_url` of an interaction) with Slack's response shapes and errors
(invalid_auth, channel_not_found, 429 + Retry-After, optional per-method rate limits), plus a
`/_fake/` API for tests to read what was posted and answered and to inject failures.

It also plays Slack's other side: `click_payload`, `interaction_body` and `signed_headers` build a
button press as Slack posts it to an app (form body, v0 signature), for tests and `make demo`.

    python -m signalcraft_devstack.fake_slack --port 9900 [--host 0.0.0.0] [--token xoxb-...] [--record messages.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from aiohttp import web


@dataclass
class Failure:
    method: str
    error: str
    status: int = 200
    retry_after: float | None = None
    times: int = 1
    channel: str | None = None


DEFAULT_TEAM = "T0DEMO"
HISTORY_PAGE_MAX = 999  # conversations.history's own limit


@dataclass
class FakeSlackState:
    tokens: set[str] = field(default_factory=set)  # empty: any xoxb- token is valid
    teams: dict[str, str] = field(default_factory=dict)  # token -> team id (auth.test); else DEFAULT_TEAM
    missing_channels: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # what was POSTed to response_urls
    failures: list[Failure] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    rate_limits: dict[str, int] = field(default_factory=dict)  # method -> calls per minute, as Slack's tiers
    recent: dict[str, deque[float]] = field(default_factory=dict)
    delay_s: float = 0.0
    record: Path | None = None
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    # OAuth v2: the app's client credentials (configure "oauth_client"), codes issued by the authorize
    # page (single use, code -> what it installs), and the installs made.
    oauth_client: dict[str, str] = field(default_factory=lambda: {"client_id": "fake-client-id",
                                                                  "client_secret": "fake-client-secret"})
    oauth_codes: dict[str, dict[str, str]] = field(default_factory=dict)
    installs: list[dict[str, Any]] = field(default_factory=list)
    # (channel, ts) -> message: chat.update finds its message without a scan of every message kept
    # (a bench run keeps tens of thousands, and the fake runs on the same cores as the stack it serves).
    _by_key: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def add_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self._by_key[(message["channel"], message["ts"])] = message

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def load(self) -> None:
        if self.record and self.record.exists():
            for line in self.record.read_text().splitlines():
                entry = json.loads(line)
                if entry["op"] == "post":
                    self.add_message(entry["message"])
                elif entry["op"] == "update":
                    self._apply_update(entry["channel"], entry["ts"], entry["text"], entry["blocks"])
            self._ts = itertools.count(len(self.messages) + 1)

    def persist(self, entry: dict[str, Any]) -> None:
        if self.record:
            with self.record.open("a") as f:
                f.write(json.dumps(entry) + "\n")

    def _apply_update(self, channel: str, ts: str, text: str, blocks: Any) -> dict[str, Any] | None:
        message = self._by_key.get((channel, ts))
        if message is not None:
            message.update(text=text, blocks=blocks, updates=message.get("updates", 0) + 1)
        return message


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


class FakeSlack:
    def __init__(self, state: FakeSlackState) -> None:
        self.state = state

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json":
                args.update(json.loads(raw or b"{}"))
            else:
                args.update(dict(parse_qsl(raw.decode())))
        for key in ("blocks", "metadata"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    def _rate_limited(self, method: str) -> web.Response | None:
        """Slack's tiers, roughly: past `limit` calls of a method in the last minute, 429 + Retry-After."""
        limit = self.state.rate_limits.get(method)
        if not limit:
            return None
        now, window = time.monotonic(), self.state.recent.setdefault(method, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            retry_after = max(1, int(window[0] + 60 - now) + 1)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})
        window.append(now)
        return None

    def _check(self, request: web.Request, method: str, channel: str | None) -> web.Response | None:
        s = self.state
        s.calls[method] += 1
        if (limited := self._rate_limited(method)) is not None:
            return limited
        for failure in s.failures:
            if failure.method == method and failure.times > 0 and (failure.channel is None or failure.channel == channel):
                failure.times -= 1
                headers = {"Retry-After": str(int(failure.retry_after))} if failure.retry_after is not None else {}
                return web.json_response({"ok": False, "error": failure.error}, status=failure.status, headers=headers)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if (s.tokens and token not in s.tokens) or (not s.tokens and not token.startswith("xoxb-")):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if channel is not None and channel in s.missing_channels:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        return None

    async def post_message(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        channel = args.get("channel")
        if (refused := self._check(request, "chat.postMessage", channel)) is not None:
            return refused
        if not channel:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if not args.get("text") and not args.get("blocks"):
            return web.json_response({"ok": False, "error": "no_text"})
        if self.state.delay_s:
            await asyncio.sleep(self.state.delay_s)
        message = {"type": "message", "channel": channel, "ts": self.state.next_ts(), "text": args.get("text", ""),
                   "blocks": args.get("blocks") or [], "metadata": args.get("metadata"),
                   "thread_ts": args.get("thread_ts"), "reply_broadcast": _truthy(args.get("reply_broadcast")),
                   "received_at": time.time(), "updates": 0}
        self.state.add_message(message)
        self.state.persist({"op": "post", "message": message})
        return web.json_response({"ok": True, "channel": channel, "ts": message["ts"],
                                  "message": {"type": "message", "text": message["text"], "ts": message["ts"]}})

    async def update(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        channel = args.get("channel")
        if (refused := self._check(request, "chat.update", channel)) is not None:
            return refused
        message = self.state._apply_update(channel, args.get("ts"), args.get("text", ""), args.get("blocks") or [])
        if message is None:
            return web.json_response({"ok": False, "error": "message_not_found"})
        self.state.persist({"op": "update", "channel": channel, "ts": args.get("ts"), "text": message["text"],
                            "blocks": message["blocks"]})
        return web.json_response({"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"]})

    async def history(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        channel = args.get("channel")
        if (refused := self._check(request, "conversations.history", channel)) is not None:
            return refused
        oldest = float(args.get("oldest") or 0)
        with_metadata = _truthy(args.get("include_all_metadata"))
        # Newest first, as Slack pages them; a thread reply is in the channel's history only if broadcast.
        matching = [m for m in reversed(self.state.messages) if m["channel"] == channel and float(m["ts"]) >= oldest
                    and (not m.get("thread_ts") or m.get("reply_broadcast"))]
        return self._page(matching, args, with_metadata)

    async def replies(self, request: web.Request) -> web.Response:
        """conversations.replies: a thread's parent and replies, oldest first, paged like history."""
        args = await self._args(request)
        channel, parent = args.get("channel"), args.get("ts")
        if (refused := self._check(request, "conversations.replies", channel)) is not None:
            return refused
        oldest = float(args.get("oldest") or 0)
        thread = [m for m in self.state.messages if m["channel"] == channel
                  and (m["ts"] == parent or m.get("thread_ts") == parent) and float(m["ts"]) >= oldest]
        if not any(m["ts"] == parent for m in self.state.messages if m["channel"] == channel):
            return web.json_response({"ok": False, "error": "thread_not_found"})
        return self._page(thread, args, _truthy(args.get("include_all_metadata")))

    def _page(self, matching: list[dict[str, Any]], args: dict[str, Any], with_metadata: bool) -> web.Response:
        limit = max(1, min(int(args.get("limit") or 100), HISTORY_PAGE_MAX))
        start = _cursor_offset(args.get("cursor"))
        page = matching[start:start + limit]
        found = [{k: v for k, v in m.items()
                  if k in ("type", "ts", "text", "thread_ts") or (k == "metadata" and with_metadata)} for m in page]
        more = start + limit < len(matching)
        cursor = _cursor(start + limit) if more else ""
        return web.json_response({"ok": True, "messages": found, "has_more": more,
                                  "response_metadata": {"next_cursor": cursor}})

    async def auth_test(self, request: web.Request) -> web.Response:
        if (refused := self._check(request, "auth.test", None)) is not None:
            return refused
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return web.json_response({"ok": True, "team": "SignalCraft Demo", "user": "signalcraft",
                                  "team_id": self.state.teams.get(token, DEFAULT_TEAM)})

    async def oauth_authorize(self, request: web.Request) -> web.Response:
        """Slack's "Add to Slack" page, with the user pressing Allow: a one-time code for a new bot token
        in team `team` (default DEFAULT_TEAM), sent back to `redirect_uri` with the `state` unchanged."""
        query = request.query
        if query.get("client_id") != self.state.oauth_client["client_id"]:
            return web.Response(status=400, text="invalid_client_id")
        if "deny" in query:
            denied = urlencode({"error": "access_denied", "state": query.get("state", "")})
            return web.HTTPFound(f"{query['redirect_uri']}?{denied}")
        code = f"code-{secrets.token_hex(8)}"
        self.state.oauth_codes[code] = {"team_id": query.get("team", DEFAULT_TEAM),
                                        "redirect_uri": query.get("redirect_uri", ""), "scope": query.get("scope", "")}
        return web.HTTPFound(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}")

    async def oauth_v2_access(self, request: web.Request) -> web.Response:
        """oauth.v2.access: the app's client id and secret (HTTP Basic or form fields), a code the
        authorize page issued (once) and the same redirect_uri -> a bot token for that team."""
        self.state.calls["oauth.v2.access"] += 1
        args = await self._args(request)
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != self.state.oauth_client["client_id"]:
            return web.json_response({"ok": False, "error": "invalid_client_id"})
        if client_secret != self.state.oauth_client["client_secret"]:
            return web.json_response({"ok": False, "error": "bad_client_secret"})
        grant = self.state.oauth_codes.pop(str(args.get("code", "")), None)
        if grant is None:
            return web.json_response({"ok": False, "error": "invalid_code"})
        if args.get("redirect_uri") and args["redirect_uri"] != grant["redirect_uri"]:
            return web.json_response({"ok": False, "error": "bad_redirect_uri"})
        token = f"xoxb-fake-{secrets.token_hex(12)}"
        if self.state.tokens:
            self.state.tokens.add(token)
        self.state.teams[token] = grant["team_id"]
        self.state.installs.append({"team_id": grant["team_id"], "access_token": token})
        return web.json_response({
            "ok": True, "access_token": token, "token_type": "bot", "scope": grant["scope"] or "chat:write",
            "bot_user_id": "UFAKEBOT", "app_id": "AFAKEAPP", "team": {"id": grant["team_id"], "name": "Fake team"},
            "enterprise": None, "is_enterprise_install": False, "authed_user": {"id": "UFAKEUSER"}})

    async def list_installs(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.installs)

    async def respond(self, request: web.Request) -> web.Response:
        """An interaction's response_url: Slack takes JSON (ephemeral text, or a replacement) and says ok."""
        self.state.calls["response_url"] += 1
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.Response(status=400, text="invalid_payload")
        self.state.responses.append({"path": request.path, "body": body, "received_at": time.time()})
        return web.Response(text="ok")

    # --- the test API ---
    async def list_responses(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.responses)

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel")
        return web.json_response([m for m in self.state.messages if channel is None or m["channel"] == channel])

    async def add_failure(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.state.failures.append(Failure(**body))
        return web.json_response({"ok": True})

    async def configure(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "missing_channels" in body:
            self.state.missing_channels = set(body["missing_channels"])
        if "tokens" in body:
            self.state.tokens = set(body["tokens"])
        if "delay_ms" in body:
            self.state.delay_s = float(body["delay_ms"]) / 1000
        if "teams" in body:
            self.state.teams.update(body["teams"])
        if "oauth_client" in body:
            self.state.oauth_client = {"client_id": body["oauth_client"]["client_id"],
                                       "client_secret": body["oauth_client"]["client_secret"]}
        if "rate_limits" in body:
            self.state.rate_limits = {k: int(v) for k, v in body["rate_limits"].items()}
            self.state.recent.clear()
        return web.json_response({"ok": True})

    async def calls(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.state.calls))

    async def reset(self, request: web.Request) -> web.Response:
        self.state.messages.clear()
        self.state._by_key.clear()
        self.state.responses.clear()
        self.state.failures.clear()
        self.state.calls.clear()
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.add_routes([
            web.post("/api/chat.postMessage", self.post_message),
            web.post("/api/chat.update", self.update),
            web.route("*", "/api/conversations.history", self.history),
            web.route("*", "/api/conversations.replies", self.replies),
            web.route("*", "/api/auth.test", self.auth_test),
            web.route("*", "/api/oauth.v2.access", self.oauth_v2_access),
            web.get("/oauth/v2/authorize", self.oauth_authorize),
            web.get("/_fake/installs", self.list_installs),
            web.post("/actions/{tail:.+}", self.respond),
            web.get("/_fake/messages", self.list_messages),
            web.get("/_fake/responses", self.list_responses),
            web.post("/_fake/failures", self.add_failure),
            web.post("/_fake/configure", self.configure),
            web.get("/_fake/calls", self.calls),
            web.post("/_fake/reset", self.reset),
        ])
        return app


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _cursor_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("offset:")))
    except ValueError:
        return 0


# --- Slack's other side: a button press, posted to the app as Slack does --------------------


def click_payload(*, team_id: str, user_id: str, action_id: str, value: str, channel: str, message_ts: str,
                  response_url: str, user_name: str = "demo-user") -> dict[str, Any]:
    """A `block_actions` payload with the fields Slack sends for a button in a channel message
    (see tests/contract/fixtures/slack/block-actions-button-click.json)."""
    now = time.time()
    return {
        "type": "block_actions", "team": {"id": team_id, "domain": "signalcraft-demo"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": "A0SIGNALCRAFT", "token": "legacy-verification-token-unused",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"{int(now)}.{secrets.randbelow(10**11)}.{secrets.token_hex(16)}",
        "channel": {"id": channel, "name": channel.lstrip("#")}, "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "signalcraft", "type": "button", "value": value,
                     "action_ts": f"{now:.6f}"}],
    }


def interaction_body(payload: dict[str, Any]) -> bytes:
    """The form body Slack posts: one `payload` field, its JSON escaping `/` as Slack's does."""
    encoded = json.dumps(payload, separators=(",", ":")).replace("/", "\\/")
    return f"payload={quote(encoded, safe='')}".encode()


def signed_headers(body: bytes, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """X-Slack-Request-Timestamp and the v0 X-Slack-Signature over the raw body (SIGNATURES.md)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 inside a container")
    parser.add_argument("--token", action="append", default=[])
    parser.add_argument("--record", type=Path)
    args = parser.parse_args()
    state = FakeSlackState(tokens=set(args.token), record=args.record)
    state.load()
    web.run_app(FakeSlack(state).app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
