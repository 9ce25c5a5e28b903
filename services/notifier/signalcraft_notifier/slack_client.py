"""The one place slack-sdk is touched. Every call returns an outcome instead of raising for Slack's
own errors, so the delivery flow records and classifies each attempt."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .domain.slack_errors import Classified, classify

METADATA_EVENT_TYPE = "signalcraft_notification"


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

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]], request_id: str,
                   thread_ts: str | None = None) -> CallOutcome:
        kwargs: dict[str, Any] = {
            "channel": channel, "text": text, "blocks": blocks, "unfurl_links": False,
            # Marks the message with our request id: after a crash we look for it before posting again.
            "metadata": {"event_type": METADATA_EVENT_TYPE, "event_payload": {"request_id": request_id}},
        }
        if thread_ts:
            kwargs.update(thread_ts=thread_ts, reply_broadcast=True)
        return await self._call(self._client.chat_postMessage, **kwargs)

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> CallOutcome:
        return await self._call(self._client.chat_update, channel=channel, ts=ts, text=text, blocks=blocks)

    async def find_posted(self, channel: str, request_id: str, oldest: float) -> str | None:
        """The ts of a message we already posted for this request (by metadata), if any."""
        cursor = None
        for _ in range(10):
            response = await self._client.conversations_history(
                channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200, cursor=cursor
            )
            for message in response.get("messages", []):
                metadata = message.get("metadata") or {}
                if (metadata.get("event_type") == METADATA_EVENT_TYPE
                        and (metadata.get("event_payload") or {}).get("request_id") == request_id):
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    async def _call(self, method: Any, **kwargs: Any) -> CallOutcome:
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
