"""Why a webhook was refused. Free of HTTP: the entry point maps each to a status code."""


class WebhookRejected(Exception):
    """Root of every refusal; `reason` is shown to the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthenticationFailed(WebhookRejected):
    """Signature, token or credentials missing or wrong (401)."""


class MalformedPayload(WebhookRejected):
    """Not parseable at all: not JSON, wrong encoding (400)."""


class UnsupportedPayload(WebhookRejected):
    """Parseable, but not a shape this provider sends, or a required field is missing (422)."""


class PayloadTooLarge(WebhookRejected):
    """Over the configured body limit (413)."""


class UnknownIntegration(WebhookRejected):
    """No enabled integration with that id for that provider (404)."""


class IntegrationDisabled(UnknownIntegration):
    """The integration exists but is disabled (404, with that reason)."""


class IntegrationGone(WebhookRejected):
    """The integration was deleted (410): the sender should stop sending."""


class ProviderUnavailable(Exception):
    """Verification needs something of the provider's that cannot be reached now (503: retry).

    Not a WebhookRejected: the sender did nothing wrong.
    """


class RateLimited(WebhookRejected):
    """Over the integration's rate limit (429): retry after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class TryLater(Exception):
    """Not refused, not taken now (503 with Retry-After): ingest is at a limit of its own, or cannot
    yet tell whether the integration exists. Not a WebhookRejected: the sender did nothing wrong."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
