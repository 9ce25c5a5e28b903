"""Which integration a webhook belongs to, from the config view (the `config` topic), with secrets
decrypted once; and catching that view up when a webhook names an integration it does not know.

Reads the in-memory config state it is given; when to catch up is the handler's step.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.crypto import SecretBox

from ..domain.errors import (
    AuthenticationFailed, IntegrationDisabled, IntegrationGone, MalformedPayload, UnknownIntegration,
)
from ..domain.providers.base import Integration, WebhookRequest
from ..domain.verification import accepted_secrets


class IntegrationDirectory:
    def __init__(self, config: ConfigState, secrets: SecretBox) -> None:
        self._config = config
        self._secrets = secrets
        self._cache: dict[str, tuple[Any, Integration]] = {}

    def get(self, integration_id: str, provider: str) -> Integration:
        configured = self._config.integrations.get(integration_id)
        if configured is None or configured.provider != provider:
            raise UnknownIntegration(f"no enabled {provider} integration {integration_id!r}")
        if configured.deleted_at is not None:
            raise IntegrationGone(f"integration {integration_id!r} was deleted; stop sending to this URL")
        if not configured.enabled:
            raise IntegrationDisabled(f"integration {integration_id!r} is disabled")
        cached = self._cache.get(integration_id)
        if cached is not None and cached[0] is configured:
            return cached[1]
        integration = Integration(
            integration_id=configured.integration_id, workspace_id=configured.workspace_id,
            provider=configured.provider, secret=self._secrets.decrypt(configured.secret_encrypted),
            options=dict(configured.options), name=configured.name,
            previous_secret=self._secrets.decrypt(configured.previous_secret_encrypted)
            if configured.previous_secret_encrypted else None,
            previous_secret_valid_until=configured.previous_secret_valid_until,
        )
        self._cache[integration_id] = (configured, integration)
        return integration

    def by_secret_field(self, provider: str, request: WebhookRequest) -> Integration:
        """PagerDuty-style senders name no integration in the URL: the body's routing_key is the secret."""
        payload = request.json()
        routing_key = payload.get("routing_key") if isinstance(payload, dict) else None
        if not isinstance(routing_key, str) or not routing_key:
            raise MalformedPayload("missing routing_key") if not isinstance(payload, dict) else AuthenticationFailed("missing routing_key")
        wanted = hashlib.sha256(routing_key.encode()).digest()
        for integration_id, configured in self._config.integrations.items():
            if configured.provider != provider or not configured.enabled or configured.deleted_at is not None:
                continue
            candidate = self.get(integration_id, provider)
            for secret in accepted_secrets(candidate.secret, candidate.previous_secret,
                                           candidate.previous_secret_valid_until, request.received_at):
                if hashlib.sha256(secret.encode()).digest() == wanted:
                    return candidate
        raise UnknownSecret("invalid routing_key")


class UnknownSecret(AuthenticationFailed):
    """No enabled integration has this secret: unknown, as far as this view knows (401)."""


class ConfigCatchUp:
    """Catches the config view up with the topic for webhooks naming what it does not know.

    Many callers share the catch-ups: at most one runs at a time. A caller takes a `ticket` when it
    misses; `settled` waits for the catch-up running then (it may bring the integration in), and
    `after(ticket)` for one begun after the ticket (one begun earlier may have missed a write made
    just before the webhook). So a scan of made-up ids costs back-to-back catch-ups, not one per
    request; requests for known integrations never wait for any. Cancelling a caller never cancels
    a catch-up.
    """

    def __init__(self, sync: Callable[[], Awaitable[bool]], is_ready: Callable[[], bool] = lambda: True) -> None:
        self._sync = sync
        self._is_ready = is_ready
        self._running: asyncio.Task[bool] | None = None
        self._begun = 0  # catch-ups begun so far; the running (or last) one is number `_begun`

    def ticket(self) -> int:
        return self._begun

    async def settled(self) -> None:
        """Once the catch-up running at the call, if any, has finished."""
        running = self._running
        if running is not None and not running.done():
            await asyncio.wait([running])

    async def after(self, ticket: int) -> bool:
        """After a catch-up begun after `ticket` was taken. True when it reached the topic's end and
        the view is complete (ready): only then does "not found" mean the integration does not exist."""
        while True:
            running = self._running
            if running is not None and self._begun > ticket:
                await asyncio.wait([running])
                return running.result()
            if running is not None and not running.done():
                await asyncio.wait([running])  # begun before the ticket: wait, then begin the next
                continue
            self._begun += 1
            self._running = asyncio.create_task(self._catch_up(), name="config-catch-up")

    async def _catch_up(self) -> bool:
        try:
            return await self._sync() and self._is_ready()
        except Exception:  # ConfigView.sync does not raise; any failure means "not known to be complete"
            return False
