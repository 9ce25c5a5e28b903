"""SnsCertificateFetcher and confirm_subscription against httpx.MockTransport."""

from __future__ import annotations

import httpx
import pytest

from signalcraft_ingest.adapters.sns import SnsCertificateFetcher, SnsRequestFailed, confirm_subscription
from signalcraft_ingest.domain.errors import AuthenticationFailed

from .helpers import SNS_KEY

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"


def client_serving(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=handler)


async def test_fetches_once_and_caches() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, content=SNS_KEY.pem)

    async with client_serving(httpx.MockTransport(handler)) as client:
        fetcher = SnsCertificateFetcher(client)
        assert await fetcher.fetch_certificate(CERT_URL) == SNS_KEY.pem
        assert await fetcher.fetch_certificate(CERT_URL) == SNS_KEY.pem
    assert calls == [CERT_URL]


async def test_cache_evicts_the_least_recently_used() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, content=SNS_KEY.pem)

    async with client_serving(httpx.MockTransport(handler)) as client:
        fetcher = SnsCertificateFetcher(client, cache_size=2)
        urls = [f"https://sns.us-east-1.amazonaws.com/{name}.pem" for name in ("a", "b", "c")]
        for url in (urls[0], urls[1], urls[0], urls[2], urls[0], urls[1]):
            await fetcher.fetch_certificate(url)
    assert calls == ["/a.pem", "/b.pem", "/c.pem", "/b.pem"]


@pytest.mark.parametrize("url", [
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
    "https://evil.example/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com/not-a-cert",
])
async def test_urls_outside_the_policy_are_never_requested(url: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"requested {request.url}")

    async with client_serving(httpx.MockTransport(handler)) as client:
        with pytest.raises(AuthenticationFailed):
            await SnsCertificateFetcher(client).fetch_certificate(url)


async def test_oversized_or_non_pem_responses_are_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/big.pem":
            return httpx.Response(200, content=b"-----BEGIN CERTIFICATE-----" + b"A" * 20_000)
        return httpx.Response(200, content=b"<html>hello</html>")

    async with client_serving(httpx.MockTransport(handler)) as client:
        fetcher = SnsCertificateFetcher(client, max_bytes=16_384)
        with pytest.raises(AuthenticationFailed, match="larger"):
            await fetcher.fetch_certificate("https://sns.us-east-1.amazonaws.com/big.pem")
        with pytest.raises(AuthenticationFailed, match="PEM"):
            await fetcher.fetch_certificate("https://sns.us-east-1.amazonaws.com/html.pem")


async def test_network_errors_and_redirects_are_retryable_failures_and_not_cached() -> None:
    attempts = {"count": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        attempts["count"] += 1
        if request.url.path == "/moved.pem":
            return httpx.Response(302, headers={"location": "https://evil.example/x.pem"})
        if attempts["count"] == 1:
            raise httpx.ConnectError("boom", request=request)
        return httpx.Response(200, content=SNS_KEY.pem)

    async with client_serving(httpx.MockTransport(handler)) as client:
        fetcher = SnsCertificateFetcher(client)
        with pytest.raises(SnsRequestFailed):
            await fetcher.fetch_certificate(CERT_URL)
        assert await fetcher.fetch_certificate(CERT_URL) == SNS_KEY.pem
        with pytest.raises(SnsRequestFailed, match="302"):
            await fetcher.fetch_certificate("https://sns.us-east-1.amazonaws.com/moved.pem")


async def test_confirm_subscription_gets_the_url_after_checking_it() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, text="<ConfirmSubscriptionResponse/>")

    url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:1:t&Token=x"
    async with client_serving(httpx.MockTransport(handler)) as client:
        await confirm_subscription(client, url)
        with pytest.raises(AuthenticationFailed):
            await confirm_subscription(client, "https://169.254.169.254/latest/meta-data/")
    assert len(seen) == 1 and seen[0].startswith("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")


async def test_confirm_subscription_failure_is_retryable() -> None:
    async with client_serving(httpx.MockTransport(lambda request: httpx.Response(403))) as client:
        with pytest.raises(SnsRequestFailed, match="403"):
            await confirm_subscription(client, "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
