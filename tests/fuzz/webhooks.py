"""Hostile webhook requests for every provider endpoint.

Each request starts from a real payload (tests/contract/fixtures), is mutated (hostile.py), and is
then authenticated as its sender would, or not: about half carry valid credentials over the hostile
body (an HMAC over exactly the bytes sent, a validly SNS-signed envelope, the right routing_key), so
they get past authentication into the normalizers. The rest have missing, wrong, stale or misplaced
credentials, the wrong content type, corrupted bytes, an oversize body, a hostile URL, or replay an
earlier request exactly.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes

from .cases import FuzzRequest
from .hostile import corrupt, encode, hostile_value, mutate, oversize
from signalcraft_devstack.fake_slack import click_payload, signed_headers

from .world import (
    DATADOG_TOKEN, GRAFANA_SIGNATURE, GRAFANA_TIMESTAMP, MAX_BODY_BYTES, SLACK_SIGNING_SECRET, SLACK_TEAM, SNS_TOPIC,
    FuzzWorld, Webhook,
)

FIXTURES = Path(__file__).resolve().parent.parent / "contract" / "fixtures"
CONTENT_TYPES = (
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
    "application/json; charset=latin-1", "application/json; charset=utf-16", "", "*/*", "application/json\u00e9",
    "x" * 5000,
)
SENTRY_RESOURCES = {
    "error-created-docs": "error", "event-alert-triggered-docs": "event_alert", "issue-created-docs": "issue",
    "issue-created": "issue", "issue-resolved": "issue", "metric-alert-critical-data-only-sentry-unit-test":
    "metric_alert", "metric-alert-resolved-docs": "metric_alert",
}
HOSTILE_IDS = (
    "%00", "a%00b", "%FF%FE", "..", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "x" * 5000, "%F0%9F%92%A9",
    "sen-000000000000", "'%20OR%201%3D1--", "%25s%25n", "%C0%AF", "%EF%BF%BF", "%0D%0AX-Injected:%201",
)
HOSTILE_PROVIDERS = ("unknown", "SENTRY", "sentry%00", "%00", "x" * 3000, "pagerduty%2F..", "grafana%20")


def _fixtures(directory: str) -> dict[str, Any]:
    return {path.stem: json.loads(path.read_text()) for path in sorted((FIXTURES / directory).glob("*.json"))}


class WebhookRequests:
    """Generates hostile requests for the world's integrations; `rng` decides everything."""

    def __init__(self, world: FuzzWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.sentry = _fixtures("sentry")
        self.alertmanager = list(_fixtures("alertmanager").values())
        self.grafana = list(_fixtures("grafana").values())
        datadog = _fixtures("datadog")
        self.datadog_default = [datadog["default-payload-template"], _rendered_default_template()]
        self.datadog_custom = [v for k, v in datadog.items() if k.startswith("custom-payload")]
        self.pagerduty = [v for k, v in _fixtures("pagerduty-events-v2").items() if not k.startswith("response")]
        cloudwatch = _fixtures("cloudwatch")
        self.sns_envelopes = [v for k, v in cloudwatch.items() if k.startswith("sns-")]
        self.alarms = [v for k, v in cloudwatch.items() if k.startswith("alarm-")]
        self.generators: dict[str, Callable[[], FuzzRequest]] = {
            "sentry": self._sentry,
            "alertmanager": lambda: self._authorization_header(
                self.rng.choice(("alertmanager-bearer", "alertmanager-basic")), self.alertmanager),
            "grafana": self._grafana,
            "datadog": self._datadog,
            "cloudwatch": self._cloudwatch,
            "pagerduty /webhooks/pagerduty/<id>": lambda: self._pagerduty(enqueue=False),
            "pagerduty /v2/enqueue": lambda: self._pagerduty(enqueue=True),
            "webhook paths": self._hostile_path,
            "slack /slack/interactions": self._slack_click,
        }

    def next(self) -> FuzzRequest:
        return self.generators[self.rng.choice(tuple(self.generators))]()

    # --- the parts every provider shares ---

    def _payload(self, bases: list[Any]) -> tuple[Any, list[str]]:
        base = copy.deepcopy(self.rng.choice(bases))
        if self.rng.random() < 0.2:
            return base, ["as-sent"]
        return mutate(base, self.rng)

    def _body(self, document: Any, tags: list[str]) -> bytes:
        """Encoded, and sometimes corrupted or over the size limit."""
        body = encode(document, self.rng)
        roll = self.rng.random()
        if roll < 0.12:
            body, what = corrupt(body, self.rng)
            tags.append(what)
        elif roll < 0.14:
            body = oversize(body, MAX_BODY_BYTES, self.rng)
            tags.append("oversize")
        return body

    def _content_type(self, default: str, tags: list[str]) -> list[tuple[str, str | bytes]]:
        roll = self.rng.random()
        if roll < 0.12:
            tags.append("content-type")
            return [("Content-Type", self.rng.choice(CONTENT_TYPES).encode("utf-8"))]
        if roll < 0.16:
            tags.append("no-content-type")
            return []
        return [("Content-Type", default)]

    def _auth_choice(self) -> str:
        roll = self.rng.random()
        if roll < 0.55:
            return "signed"
        if roll < 0.67:
            return "no-credentials"
        if roll < 0.90:
            return "wrong-credentials"
        return "credentials-of-other-body"

    def _request(self, webhook: Webhook | None, endpoint: str, body: bytes, headers: list[tuple[str, str | bytes]],
                 tags: list[str], path: str | None = None, query: str = "") -> FuzzRequest:
        if self.rng.random() < 0.03:
            headers = [*headers, ("X-Fuzz-Padding", "p" * self.rng.choice((4000, 60_000)))]
            tags.append("huge-header")
        return FuzzRequest("ingest", endpoint, "POST", path or (webhook.path if webhook else "/"), body, tuple(headers),
                           query, tuple(tags))

    # --- providers ---

    def _sentry(self) -> FuzzRequest:
        webhook = self.world.webhooks["sentry"]
        name = self.rng.choice(tuple(self.sentry))
        document, tags = self._payload([self.sentry[name]])
        body = self._body(document, tags)
        auth = self._auth_choice()
        tags.insert(0, auth)
        headers = self._content_type("application/json", tags)
        resource = SENTRY_RESOURCES.get(name)
        if resource and self.rng.random() < 0.1:
            resource = self.rng.choice(("installation", "comment", "", "ISSUE", "metric_alert", "x\u00e9", "error"))
            tags.append("resource-header")
        if resource is not None:
            headers.append(("Sentry-Hook-Resource", resource.encode("utf-8")))
        headers.append(("Request-ID", self.rng.choice((uuid.UUID(int=self.rng.getrandbits(128)).hex, "", "x" * 300))))
        headers.append(("Sentry-Hook-Timestamp", str(int(time.time()))))
        query = ""
        if resource is None and auth == "signed":  # the legacy plugin signs nothing: ?token= in the URL
            query = f"token={quote(webhook.secret)}"
        elif auth == "signed":
            headers.append(("Sentry-Hook-Signature", _hmac_hex(webhook.secret, body)))
        elif auth == "wrong-credentials":
            wrong = self.rng.choice((_hmac_hex("not-the-secret", body), "00" * 32, "zz", "\u00e9" * 64,
                                     _hmac_hex(webhook.secret, body).upper() + "0"))
            headers.append((self.rng.choice(("Sentry-Hook-Signature", "Sentry-App-Signature")), wrong.encode()))
            if self.rng.random() < 0.3:
                query = f"token={self.rng.choice(('', '%00', 'x' * 2000, quote(webhook.secret) + '%00'))}"
        elif auth == "credentials-of-other-body":
            headers.append(("Sentry-Hook-Signature", _hmac_hex(webhook.secret, body + b" ")))
        return self._request(webhook, "sentry", body, headers, tags, query=query)

    def _authorization_header(self, label: str, bases: list[Any]) -> FuzzRequest:
        webhook = self.world.webhooks[label]
        document, tags = self._payload(bases)
        body = self._body(document, tags)
        auth = self._auth_choice()
        tags.insert(0, auth)
        headers = self._content_type("application/json", tags)
        basic = webhook.options.get("auth") == "basic"
        if auth == "signed":
            headers.append(("Authorization", _basic(webhook.secret) if basic else f"Bearer {webhook.secret}"))
        elif auth in ("wrong-credentials", "credentials-of-other-body"):
            headers.append(("Authorization", self.rng.choice((
                "Bearer not-the-token", f"Basic {webhook.secret}", _basic("fuzz:wrong"), "Basic %%%not-base64",
                f"Bearer {webhook.secret}\u00e9".encode("utf-8"), "Bearer", "Basic " + "A" * 6000, "Digest x=y",
                f"bearer  {webhook.secret}",
            ))))
        return self._request(webhook, webhook.provider, body, headers, tags)

    def _grafana(self) -> FuzzRequest:
        if self.rng.random() < 0.3:
            return self._authorization_header("grafana-bearer", self.grafana)
        webhook = self.world.webhooks["grafana-hmac"]
        document, tags = self._payload(self.grafana)
        body = self._body(document, tags)
        auth = self._auth_choice()
        tags.insert(0, auth)
        headers = self._content_type("application/json", tags)
        now = int(time.time())
        timestamp = str(now)
        if auth == "signed":
            signature = _hmac_hex(webhook.secret, f"{timestamp}:".encode() + body)
        elif auth == "wrong-credentials":
            timestamp = self.rng.choice((str(now - 3600), str(now + 3600), "-1", "1e9", "", "9" * 40, f"{now}\u00e9"))
            signature = self.rng.choice((_hmac_hex(webhook.secret, f"{timestamp}:".encode() + body),
                                         _hmac_hex(webhook.secret, body), "00" * 32, "not hex"))
        elif auth == "credentials-of-other-body":
            signature = _hmac_hex(webhook.secret, f"{timestamp}:".encode() + body + b"\n")
        else:
            return self._request(webhook, "grafana", body, headers, tags)
        headers += [(GRAFANA_TIMESTAMP, timestamp.encode("utf-8")), (GRAFANA_SIGNATURE, signature)]
        return self._request(webhook, "grafana", body, headers, tags)

    def _datadog(self) -> FuzzRequest:
        mapped = self.rng.random() < 0.5
        webhook = self.world.webhooks["datadog-mapped" if mapped else "datadog"]
        document, tags = self._payload(self.datadog_custom if mapped else self.datadog_default + self.datadog_custom)
        body = self._body(document, tags)
        auth = self._auth_choice()
        tags.insert(0, auth)
        headers = self._content_type("application/json", tags)
        if auth == "signed":
            headers.append((DATADOG_TOKEN, webhook.secret))
        elif auth in ("wrong-credentials", "credentials-of-other-body"):
            headers.append((self.rng.choice((DATADOG_TOKEN, "Authorization")),
                            self.rng.choice(("wrong", webhook.secret + " x", webhook.secret[:-1], "é" * 10)).encode()))
        return self._request(webhook, "datadog", body, headers, tags)

    def _cloudwatch(self) -> FuzzRequest:
        webhook = self.world.webhooks["cloudwatch"]
        envelope = copy.deepcopy(self.rng.choice(self.sns_envelopes))
        tags: list[str] = []
        envelope["MessageId"] = str(uuid.UUID(int=self.rng.getrandbits(128)))
        envelope["TopicArn"] = SNS_TOPIC if self.rng.random() < 0.9 else self.rng.choice(
            ("arn:aws:sns:us-east-1:999999999999:other", "", SNS_TOPIC + "\u0000", SNS_TOPIC.upper()))
        envelope["SigningCertURL"] = self.world.sns_cert_url if self.rng.random() < 0.9 else self.rng.choice((
            # Not an unreachable URL on an allowed host: SNS being unreachable is a 503 by design (the sender retries).
            "https://sns.evil.example.com/SimpleNotificationService-1.pem", "http://127.0.0.1/x.pem",
            f"https://user:pw@{self.world.sns_cert_url[8:]}", "not a url", "https://[::1/x"))
        if envelope.get("Type") in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
            envelope["SubscribeURL"] = (f"{self.world.sns_base_url}/?Action=ConfirmSubscription&TopicArn={SNS_TOPIC}"
                                        f"&Token={envelope.get('Token', '')}")
        if envelope.get("Type") == "Notification" and self.rng.random() < 0.7:
            alarm, alarm_tags = mutate(self.rng.choice(self.alarms), self.rng) if self.rng.random() < 0.8 else (
                copy.deepcopy(self.rng.choice(self.alarms)), ["alarm-as-sent"])
            envelope["Message"] = encode(alarm, self.rng).decode("utf-8", "replace")
            tags += alarm_tags
        if self.rng.random() < 0.4:
            envelope, more = mutate(envelope, self.rng)
            tags += more
        auth = self._auth_choice()
        tags.insert(0, auth)
        unsigned = {k: v for k, v in envelope.items() if k not in ("Signature", "SignatureVersion")} \
            if isinstance(envelope, dict) else envelope
        if auth == "signed" and isinstance(unsigned, dict):
            signed = self._sns_signed(unsigned)
            if signed is None:
                tags[0] = "unsignable"  # goes out with whatever signature it had
            else:
                envelope = signed
        elif auth == "wrong-credentials" and isinstance(unsigned, dict):
            envelope = {**unsigned, "SignatureVersion": self.rng.choice(("1", "2", "3", 1, None)),
                        "Signature": self.rng.choice(("EXAMPLE", "", base64.b64encode(b"x" * 256).decode(), "%%%",
                                                      "A" * 10_000))}
        elif auth == "credentials-of-other-body" and isinstance(unsigned, dict):
            envelope = self._sns_signed({**_stringly(unsigned), "Subject": "another subject"}) or unsigned
            envelope["Subject"] = "the subject that was signed is not this one"
        body = self._body(envelope, tags)
        message_type = envelope.get("Type") if isinstance(envelope, dict) else None
        headers = self._content_type("text/plain; charset=UTF-8", tags)
        # As a header, without control characters: those the HTTP layer refuses before the app sees them.
        printable = "".join(c for c in message_type if c.isprintable()).strip() if isinstance(message_type, str) else ""
        headers.append(("x-amz-sns-message-type", printable.encode("utf-8", "replace") or b"Notification"))
        headers.append(("x-amz-sns-topic-arn", SNS_TOPIC))
        return self._request(webhook, "cloudwatch", body, headers, tags)

    def _sns_signed(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Signed as SNS signs, or None when SNS could not have signed it (a signed field is no string)."""
        try:
            return self.world.sns_signer.sign(message, version=self.rng.choice(("1", "2")))
        except Exception:
            return None

    def _pagerduty(self, enqueue: bool) -> FuzzRequest:
        webhook = self.world.webhooks["pagerduty"]
        document, tags = self._payload(self.pagerduty)
        auth = self._auth_choice()
        tags.insert(0, auth)
        if isinstance(document, dict):
            if auth in ("signed", "credentials-of-other-body"):
                document["routing_key"] = webhook.secret
            elif auth == "wrong-credentials":
                document["routing_key"] = self.rng.choice(("0" * 32, webhook.secret.upper(), webhook.secret + "\u0000",
                                                          "", None, 12345, [webhook.secret], {"k": webhook.secret},
                                                          "\ud800", "x" * 100_000))
            else:
                document.pop("routing_key", None)
        body = self._body(document, tags)
        headers = self._content_type("application/json", tags)
        endpoint = "pagerduty /v2/enqueue" if enqueue else "pagerduty /webhooks/pagerduty/<id>"
        return self._request(webhook, endpoint, body, headers, tags, path="/v2/enqueue" if enqueue else None)

    def _slack_click(self) -> FuzzRequest:
        """A button press on a group's message, as Slack posts it (a form with a JSON `payload`)."""
        group = self.rng.choice(self.world.groups) if self.world.groups else {"group_id": str(uuid.uuid4()),
                                                                                "group_key": "k"}
        action = self.rng.choice(("signalcraft.ack", "signalcraft.resolve", "signalcraft.snooze.1h",
                                  "signalcraft.unack"))
        value = {"w": self.world.workspace_id, "g": group["group_id"], "k": group["group_key"], "s": 3600}
        payload = click_payload(team_id=SLACK_TEAM, user_id="U0FUZZ", action_id=action, value=json.dumps(value),
                                channel="C0FUZZ", message_ts="1700000000.000100",
                                response_url="https://hooks.slack.invalid/actions/fuzz")
        document, tags = (payload, ["as-sent"]) if self.rng.random() < 0.2 else mutate(payload, self.rng)
        actions = document.get("actions") if isinstance(document, dict) else None
        if self.rng.random() < 0.2 and isinstance(actions, list) and actions and isinstance(actions[0], dict):
            hostile = encode(mutate(value, self.rng)[0], self.rng).decode("utf-8", "replace")
            document = {**document, "actions": [{**actions[0], "value": hostile}, *actions[1:]]}
            tags.append("hostile-button-value")
        # The form Slack posts (fake_slack.interaction_body), with this module's encoder: it survives deep nesting.
        body = b"payload=" + quote_from_bytes(encode(document, self.rng), safe="").encode() \
            if self.rng.random() < 0.9 else self._body(document, tags)
        if self.rng.random() < 0.1:
            body, what = corrupt(body, self.rng)
            tags.append(what)
        auth = self._auth_choice()
        tags.insert(0, auth)
        headers: list[tuple[str, str | bytes]] = [("Content-Type", "application/x-www-form-urlencoded")]
        if auth == "signed":
            headers = list(signed_headers(body, SLACK_SIGNING_SECRET).items())
        elif auth == "wrong-credentials":
            signed = signed_headers(body, self.rng.choice(("not-the-secret", SLACK_SIGNING_SECRET)),
                                    timestamp=self.rng.choice((int(time.time()) - 3600, int(time.time()))))
            if self.rng.random() < 0.5:
                signed["X-Slack-Signature"] = self.rng.choice(("v1=00", "v0=", "v0=" + "0" * 64, "\u00e9"))
            headers = list(signed.items())
        elif auth == "credentials-of-other-body":
            headers = list(signed_headers(body + b"&x=1", SLACK_SIGNING_SECRET).items())
        return self._request(None, "slack /slack/interactions", body, headers, tags, path="/slack/interactions")

    def _hostile_path(self) -> FuzzRequest:
        """Unknown, hostile or mismatched integration ids and providers (404 whatever the body), and
        methods other than POST (405)."""
        webhooks = list(self.world.webhooks.values())
        roll = self.rng.random()
        if roll < 0.1:
            request = self._authorization_header("alertmanager-bearer", self.alertmanager)
            return dataclasses.replace(request, endpoint="webhook paths", tags=(*request.tags, "wrong-method"),
                                       method=self.rng.choice(("GET", "PUT", "DELETE", "PATCH", "OPTIONS")))
        if roll < 0.35:  # a real id under another provider's path
            owner = self.rng.choice(webhooks)
            provider = self.rng.choice([w.provider for w in webhooks if w.provider != owner.provider])
            path, what = f"/webhooks/{provider}/{owner.integration_id}", "other-provider"
        elif roll < 0.7:
            provider = self.rng.choice(webhooks).provider
            path, what = f"/webhooks/{provider}/{self.rng.choice(HOSTILE_IDS)}", "hostile-id"
        else:
            path, what = f"/webhooks/{self.rng.choice(HOSTILE_PROVIDERS)}/{self.rng.choice(webhooks).integration_id}", \
                "hostile-provider"
        body = self.rng.choice((b"{}", encode(hostile_value(self.rng), self.rng), b"\xff\x00", b""))
        if self.rng.random() < 0.1:
            body = oversize(body, MAX_BODY_BYTES, self.rng)
        return self._request(None, "webhook paths", body, [("Content-Type", "application/json")],
                             [what, "oversize" if len(body) > MAX_BODY_BYTES else "small"], path=path)


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _basic(user_pass: str) -> str:
    return "Basic " + base64.b64encode(user_pass.encode()).decode()


def _stringly(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str) else "not a string" for k, v in message.items()}


def _rendered_default_template() -> dict[str, Any]:
    """Datadog's default template as Datadog renders it (what tests/contract/support.py builds)."""
    return {
        "body": ("%%%\n@webhook-signalcraft Memory usage high\n\n"
                 "[[Monitor Status](https://app.datadoghq.com/monitors#123)]\n%%%"),
        "last_updated": "1700000000000", "event_type": "metric_alert_monitor",
        "title": "[P2] [Triggered on {host:web-1,env:prod}] Memory usage high", "date": "1700000000000",
        "org": {"id": "1", "name": "Fuzz"}, "id": "7000000000000000001",
    }

