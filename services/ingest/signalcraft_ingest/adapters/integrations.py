"""Which integration a webhook belongs to, from the config view (the `config` topic), with secrets
decrypted once.

Reads the in-memory config state it is given; catching the view up with the config topic, when an
id is not found, is the handler's step.
"""

from __future__ import annotations

import hashlib
from typing import Any

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.crypto import SecretBox

from ..domain.errors import AuthenticationFailed, MalformedPayload, UnknownIntegration
from ..domain.providers.base import Integration, WebhookRequest


class IntegrationDirectory:
    def __init__(self, config: ConfigState, secrets: SecretBox) -> None:
        self._config = config
        self._secrets = secrets
        self._cache: dict[str, tuple[Any, Integration]] = {}

    def get(self, integration_id: str, provider: str) -> Integration:
        configured = self._config.integrations.get(integration_id)
        if configured is None or not configured.enabled or configured.provider != provider:
            raise UnknownIntegration(f"no enabled {provider} integration {integration_id!r}")
        cached = self._cache.get(integration_id)
        if cached is not None and cached[0] is configured:
            return cached[1]
        integration = Integration(
            integration_id=configured.integration_id, workspace_id=configured.workspace_id,
            provider=configured.provider, secret=self._secrets.decrypt(configured.secret_encrypted),
            options=dict(configured.options), name=configured.name,
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
            if configured.provider != provider or not configured.enabled:
                continue
            candidate = self.get(integration_id, provider)
            if hashlib.sha256(candidate.secret.encode()).digest() == wanted:
                return candidate
        raise AuthenticationFailed("invalid routing_key")
