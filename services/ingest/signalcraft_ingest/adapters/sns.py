"""Fetching SNS signing certificates and confirming SNS subscriptions, over an injected httpx client:
the I/O the CloudWatch provider asks for, behind `HttpProviderContext`.

The CloudWatch provider checks the certificate URL itself; this fetcher checks it again, because it
is the code that actually connects: https only, a host from the allow-list, a .pem path, no
credentials, no redirects, and a size limit. Certificates rarely change, so PEMs are kept in a small
LRU cache keyed by URL; a failed fetch is not cached.

Errors: a URL outside the policy, or a response that is not a PEM certificate, raises
AuthenticationFailed (the message cannot be verified: 401). A network failure or a non-200 answer
raises SnsRequestFailed, which the HTTP adapter answers with 503 so SNS retries.
"""

from __future__ import annotations

import re
import ssl
from collections import OrderedDict

import httpx

from signalcraft_runtime.logs import get_logger

from ..domain.errors import AuthenticationFailed, ProviderUnavailable
from ..domain.providers.base import SideEffect
from ..domain.sns_verification import DEFAULT_CERT_HOST_PATTERN, check_https_url

log = get_logger(__name__)

DEFAULT_MAX_BYTES = 16 * 1024  # SNS certificates are about 2 KB
DEFAULT_CACHE_SIZE = 32
PEM_CERTIFICATE_MARKER = b"-----BEGIN CERTIFICATE-----"


def sns_client(ca_bundle: str | None) -> httpx.AsyncClient:
    """The client for SNS requests: trusts the CA certificates in `ca_bundle` if set, else the system store."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    return httpx.AsyncClient(timeout=5.0, verify=verify)


class SnsRequestFailed(ProviderUnavailable):
    """An SNS URL could not be fetched just now (network, timeout, non-200): worth a retry."""


class SnsCertificateFetcher:
    """`fetch_certificate(url) -> PEM bytes` for ProviderContext, with an allow-list and an LRU cache."""

    def __init__(self, client: httpx.AsyncClient, host_pattern: str = DEFAULT_CERT_HOST_PATTERN,
                 max_bytes: int = DEFAULT_MAX_BYTES, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._client = client
        self._host_pattern = re.compile(host_pattern)
        self._max_bytes = max_bytes
        self._cache_size = cache_size
        self._cache: OrderedDict[str, bytes] = OrderedDict()

    async def fetch_certificate(self, url: str) -> bytes:
        check_https_url(url, self._host_pattern, "SigningCertURL", require_pem=True)
        if (cached := self._cached(url)) is not None:
            return cached
        pem = await self._download(url)
        # No await between these lines: safe without a lock on one event loop.
        self._cache[url] = pem
        self._cache.move_to_end(url)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return pem

    def _cached(self, url: str) -> bytes | None:
        pem = self._cache.get(url)
        if pem is not None:
            self._cache.move_to_end(url)
        return pem

    async def _download(self, url: str) -> bytes:
        try:
            async with self._client.stream("GET", url, follow_redirects=False) as response:
                if response.status_code != 200:
                    raise SnsRequestFailed(f"GET {url} answered {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
                    raise AuthenticationFailed(f"SNS certificate is larger than {self._max_bytes} bytes")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self._max_bytes:
                        raise AuthenticationFailed(f"SNS certificate is larger than {self._max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise SnsRequestFailed(f"GET {url} failed: {exc.__class__.__name__}") from exc
        pem = bytes(body)
        if PEM_CERTIFICATE_MARKER not in pem:
            raise AuthenticationFailed("SigningCertURL did not return a PEM certificate")
        return pem


async def confirm_subscription(client: httpx.AsyncClient, url: str,
                               host_pattern: str = DEFAULT_CERT_HOST_PATTERN) -> None:
    """GET an SNS SubscribeURL (the `confirm_subscription` side effect), after re-checking its host.

    Raises AuthenticationFailed for a URL outside the policy, SnsRequestFailed when SNS cannot be
    reached or does not answer 200.
    """
    check_https_url(url, re.compile(host_pattern), "SubscribeURL", require_pem=False)
    try:
        response = await client.get(url, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise SnsRequestFailed(f"GET SubscribeURL failed: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise SnsRequestFailed(f"GET SubscribeURL answered {response.status_code}")


class HttpProviderContext:
    """The ProviderContext of a running ingest: certificates through the fetcher, side effects performed."""

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
