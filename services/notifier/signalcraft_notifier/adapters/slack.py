"""The one place slack-sdk is touched, and where Slack calls are retried. Every call returns an
outcome instead of raising for Slack's own errors, so each attempt is classified and recorded.

Every message we post carries metadata (request id, group id, kind): after a crash we look for a
request's post, or a group's message, in the channel (or the thread) before posting again, paging
through the history back to when the request started however many messages that is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt, wait_exponential

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.crypto import SecretBox
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.metrics import observe_slack_call
from signalcraft_runtime.telemetry import client_span, failed
from signalcraft_schemas.events import SlackConnected

from ..domain.delivery import Attempt, Ephemeral, LookupFailed, Outcome, SlackCall, response_url_allowed
from ..domain.slack_errors import Classified, Disposition, classify, retryable

METADATA_EVENT_TYPE = "signalcraft_notification"
log = get_logger(__name__)
HISTORY_PAGE = 200  # Slack's advice for conversations.history and .replies
MAX_PAGES = 5000  # a guard against a cursor that never ends, not a search limit (a million messages)


@dataclass(frozen=True)
class CallOutcome:
    ok: bool
    ts: str | None
    failure: Classified | None
    http_status: int | None
    latency_ms: float


class SlackClient:
    def __init__(self, token: str, base_url: str, timeout_s: float = 10.0, session: aiohttp.ClientSession | None = None) -> None:
        # retry_handlers=[]: retries are ours (tenacity), so every attempt is counted and recorded.
        # A shared session keeps connections to Slack open; without one slack-sdk opens one per call.
        self._client = AsyncWebClient(token=token, base_url=base_url, timeout=int(timeout_s), retry_handlers=[],
                                      session=session)
        self._session = session

    async def post(self, call: SlackCall, request_id: str) -> CallOutcome:
        kwargs: dict[str, Any] = {
            "channel": call.channel, "text": call.text, "blocks": call.blocks, "unfurl_links": False,
            # Marks the message: after a crash we look for it (by request, or the group's own message)
            # before posting again.
            "metadata": {"event_type": METADATA_EVENT_TYPE, "event_payload": {
                "request_id": request_id, "group_id": str(call.group_id or ""), "kind": call.kind or ""}},
        }
        if call.thread_ts:
            kwargs |= {"thread_ts": call.thread_ts, "reply_broadcast": call.broadcast}
        return await self._call(self._client.chat_postMessage, **kwargs)

    async def rewrite(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> CallOutcome:
        """chat.update: replace the text and blocks of a message we posted."""
        return await self._call(self._client.chat_update, channel=channel, ts=ts, text=text, blocks=blocks)

    async def respond(self, response_url: str, text: str) -> CallOutcome:
        """An ephemeral answer through an interaction's response_url (no token: the URL is the credential)."""
        started = time.perf_counter()
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        session = self._session or aiohttp.ClientSession()
        try:
            async with session.post(response_url, json=body, allow_redirects=False,
                                    timeout=aiohttp.ClientTimeout(total=10)) as response:
                status = response.status
        except Exception as exc:  # connection refused, timeout: transient
            return CallOutcome(False, None, classify(f"connection_error:{type(exc).__name__}", None), None,
                               (time.perf_counter() - started) * 1000)
        finally:
            if session is not self._session:
                await session.close()
        error = "expired_url" if status in (404, 410) else "response_url_refused" if 400 <= status < 500 else None
        failure = None if 200 <= status < 300 else classify(None if status == 429 else error, status)
        return CallOutcome(failure is None, None, failure, status, (time.perf_counter() - started) * 1000)

    async def find_posted(self, channel: str, request_id: str, oldest: float, thread_ts: str | None = None) -> str | None:
        """The ts of a message we already posted for this request (by metadata), if any."""
        return await self._find(channel, oldest, thread_ts, lambda tag: tag.get("request_id") == request_id)

    async def find_group_message(self, channel: str, group_id: str, oldest: float) -> str | None:
        """The ts of the group's own top-level message (by metadata), if any."""
        return await self._find(channel, oldest, None,
                                lambda tag: tag.get("group_id") == group_id and tag.get("kind") == "new_group")

    async def _find(self, channel: str, oldest: float, thread_ts: str | None,
                    matches: Callable[[dict[str, Any]], bool]) -> str | None:
        """Newest first, page after page, until the history is older than `oldest`."""
        cursor = None
        for _ in range(MAX_PAGES):
            args: dict[str, Any] = {"channel": channel, "oldest": f"{oldest:.6f}", "include_all_metadata": True,
                                    "limit": HISTORY_PAGE, "cursor": cursor}
            try:
                response = await (self._client.conversations_replies(ts=thread_ts, **args) if thread_ts
                                  else self._client.conversations_history(**args))
            except SlackApiError as exc:
                resp = exc.response
                failure = classify(resp.get("error") if resp is not None else None,
                                   resp.status_code if resp is not None else None)
                raise LookupFailed(failure.error, failure.disposition == Disposition.TERMINAL) from exc
            for message in response.get("messages", []):
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == METADATA_EVENT_TYPE and matches(metadata.get("event_payload") or {}):
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        log.warning("history search stopped after its page guard", channel=channel, pages=MAX_PAGES)
        return None

    async def _call(self, method: Any, **kwargs: Any) -> CallOutcome:
        """One attempt, as a CLIENT span and in signalcraft_slack_request_duration_seconds."""
        api = method.__name__.replace("_", ".", 1)  # chat_postMessage -> chat.postMessage
        with client_span(f"slack {api}", {"rpc.system": "slack", "rpc.method": api}) as span:
            outcome = await self._attempt(method, **kwargs)
            if not outcome.ok:
                failed(span, outcome.failure.error if outcome.failure else "unknown_error")
        observe_slack_call(api, outcome.ok, outcome.failure.error if outcome.failure else None, outcome.latency_ms)
        return outcome

    async def _attempt(self, method: Any, **kwargs: Any) -> CallOutcome:
        started = time.perf_counter()
        try:
            response = await method(**kwargs)
            return CallOutcome(True, response.get("ts"), None, response.status_code,
                               (time.perf_counter() - started) * 1000)
        except SlackApiError as exc:
            resp = exc.response
            failure = classify(resp.get("error") if resp is not None else None,
                               resp.status_code if resp is not None else None,
                               (resp.headers or {}).get("retry-after") or (resp.headers or {}).get("Retry-After") if resp is not None else None)
            return CallOutcome(False, None, failure, resp.status_code if resp is not None else None,
                               (time.perf_counter() - started) * 1000)
        except Exception as exc:  # connection refused, timeout: transient
            return CallOutcome(False, None, classify(f"connection_error:{type(exc).__name__}", None), None,
                               (time.perf_counter() - started) * 1000)


class SlackDirectory:
    """A Slack client per workspace, from the config view (bot tokens decrypted on first use)."""

    def __init__(self, config: ConfigState, secrets: SecretBox, base_url: str) -> None:
        self._config = config
        self._secrets = secrets
        self._base_url = base_url
        self._clients: dict[str, tuple[SlackConnected, SlackClient]] = {}
        self._session: aiohttp.ClientSession | None = None

    def client_for(self, workspace_id: str) -> SlackClient | None:
        connected = self._config.slack.get(workspace_id)
        if connected is None:
            return None
        cached = self._clients.get(workspace_id)
        if cached is None or cached[0] is not connected:
            if self._session is None:  # created on first use, inside the running event loop
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
            token = self._secrets.decrypt(connected.bot_token_encrypted)
            cached = (connected, SlackClient(token, self._base_url, session=self._session))
            self._clients[workspace_id] = cached
        return cached[1]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _wait_for(retry_state: RetryCallState) -> float:
    """Slack's Retry-After when it gave one, else exponential backoff."""
    outcome = retry_state.outcome.result() if retry_state.outcome else None
    if isinstance(outcome, CallOutcome) and outcome.failure and outcome.failure.retry_after_s is not None:
        return outcome.failure.retry_after_s
    return wait_exponential(multiplier=0.5, max=30)(retry_state)


def _should_retry(outcome: CallOutcome) -> bool:
    return not outcome.ok and retryable(outcome.failure)


class WorkspaceSlack:
    """One workspace's Slack as the delivery handlers use it: each call retried (tenacity) as Slack's
    error says, every attempt recorded."""

    def __init__(self, client: SlackClient, max_attempts: int, sleep: Callable[[float], Awaitable[None]],
                 api_base_url: str = "") -> None:
        self._client = client
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._api_base_url = api_base_url

    async def find_posted(self, call: SlackCall, request_id: str, since: datetime) -> str | None:
        return await self._client.find_posted(call.channel, request_id, oldest=since.timestamp(),
                                              thread_ts=call.thread_ts)

    async def find_group_message(self, channel: str, group_id: str, since: datetime) -> str | None:
        return await self._client.find_group_message(channel, group_id, oldest=since.timestamp())

    async def respond(self, ephemeral: Ephemeral) -> Outcome:
        """Retried like a Web API call; only to Slack's response URLs (or the configured Slack's)."""
        if not response_url_allowed(ephemeral.response_url, self._api_base_url):
            return Outcome(ok=False, error="response_url_not_allowed")
        return await self._retried("response_url", lambda: self._client.respond(ephemeral.response_url, ephemeral.text))

    async def send(self, call: SlackCall, request_id: str) -> Outcome:
        return await self._retried(call.method, lambda: self._call(call, request_id))

    async def _retried(self, method: str, once: Callable[[], Awaitable[CallOutcome]]) -> Outcome:
        attempts: list[Attempt] = []

        async def attempt_once() -> CallOutcome:
            result = await once()
            failure = result.failure
            attempts.append(Attempt(
                number=len(attempts) + 1, method=method,
                outcome="ok" if result.ok else failure.disposition.value if failure else "retry",
                error=failure.error if failure else None, http_status=result.http_status,
                latency_ms=result.latency_ms, at=utcnow()))
            return result

        result: CallOutcome = await AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts), wait=_wait_for, retry=retry_if_result(_should_retry),
            sleep=self._sleep, retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        )(attempt_once)
        if result.ok:
            return Outcome(ok=True, ts=result.ts, attempts=attempts)
        return Outcome(ok=False, error=result.failure.error if result.failure else "unknown_error", attempts=attempts)

    async def _call(self, call: SlackCall, request_id: str) -> CallOutcome:
        if call.method == "chat.update":
            assert call.ts is not None
            return await self._client.rewrite(call.channel, call.ts, call.text, call.blocks)
        return await self._client.post(call, request_id)


class SlackGateway:
    """Slack per workspace, for the delivery handlers; None where the workspace has not connected Slack."""

    def __init__(self, clients: Callable[[str], SlackClient | None], max_attempts: int = 5,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, api_base_url: str = "") -> None:
        self._clients = clients
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._api_base_url = api_base_url

    def workspace(self, workspace_id: str) -> WorkspaceSlack | None:
        client = self._clients(workspace_id)
        return None if client is None else WorkspaceSlack(client, self._max_attempts, self._sleep, self._api_base_url)

