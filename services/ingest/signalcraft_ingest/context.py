"""The I/O providers may ask for: SNS signing certificates and subscription confirmations."""

from __future__ import annotations

import httpx

from signalcraft_runtime.logs import get_logger

from .adapters.sns_certificates import SnsCertificateFetcher, confirm_subscription
from .providers import SideEffect

log = get_logger(__name__)


class HttpProviderContext:
    def __init__(self, client: httpx.AsyncClient, cert_host_pattern: str) -> None:
        self._client = client
        self._host_pattern = cert_host_pattern
        self._certificates = SnsCertificateFetcher(client, host_pattern=cert_host_pattern)

    async def fetch_certificate(self, url: str) -> bytes:
        return await self._certificates.fetch_certificate(url)

    async def perform(self, effect: SideEffect) -> None:
        if effect.kind == "confirm_subscription":
            # The same allow-list as certificates: we only ever call SNS hosts, over HTTPS.
            await confirm_subscription(self._client, effect.url, host_pattern=self._host_pattern)
            log.info("SNS subscription confirmed", topic_arn=effect.detail.get("topic_arn"))
        else:
            raise ValueError(f"unknown side effect {effect.kind!r}")
