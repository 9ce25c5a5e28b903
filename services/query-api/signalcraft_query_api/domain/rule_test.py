"""Explain: which routing rules take a sample alert, in order, and for each rule that does not, the
first condition that failed (POST /api/routing-rules/test, `signalcraft rule test`).

A sample is a NormalizedAlert, or a provider name with its raw payload, normalized first by the very
parser ingest runs (signalcraft_ingest's pure providers: one image holds every service, and a second
copy of six parsers would drift from the first). Only `parse` runs: a sample is not authenticated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field

from signalcraft_ingest.domain.errors import WebhookRejected
from signalcraft_ingest.domain.providers import PROVIDERS, get_provider
from signalcraft_ingest.domain.providers.base import Integration, WebhookRequest
from signalcraft_policies.routing import Verdict, explain, routes
from signalcraft_schemas import NormalizedAlert
from signalcraft_schemas.events import RoutingRuleSaved

from .config import UnknownProvider


class UnreadableSample(ValueError):
    """The provider's parser refused the payload (422), with its reason; or it held no alert."""


def normalize_sample(provider: str, payload: Any, received_at: datetime, workspace_id: str,
                     headers: Mapping[str, str] | None = None,
                     options: Mapping[str, str] | None = None) -> list[NormalizedAlert]:
    """The alerts ingest would make of this payload (as an integration with these options)."""
    parser = get_provider(provider)
    if parser is None:
        raise UnknownProvider(f"unknown provider {provider!r}; known: {', '.join(sorted(PROVIDERS))}")
    body = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    request = WebhookRequest(body=body, headers={k.lower(): v for k, v in (headers or {}).items()}, query={},
                             received_at=received_at)
    integration = Integration(integration_id="rule-test", workspace_id=workspace_id, provider=provider, secret="",
                              options=dict(options or {}))
    try:
        alerts = parser.parse(request, integration).alerts
    except WebhookRejected as exc:
        raise UnreadableSample(f"{provider} payload not understood: {exc}") from None
    if not alerts:
        raise UnreadableSample(f"the {provider} payload holds no alert (e.g. a ping or a subscription message)")
    return alerts


class FailedCondition(BaseModel):
    field: str = Field(description="environment, severity, project, source, tag.<key>, or a matcher's field")
    operator: str = Field(description="in, >=, exists, =, !=, =~, !~")
    expected: str
    actual: str | None = Field(description="None: the tag is absent")


class RuleVerdict(BaseModel):
    rule_id: str
    name: str
    position: int
    enabled: bool
    matched: bool = Field(description="Every condition holds (and the rule is enabled)")
    routed: bool = Field(description="It gives the alert a route: matched, and no earlier match stopped evaluation")
    continue_: bool = Field(alias="continue", description="A match does not stop evaluation")
    failed: FailedCondition | None = Field(description="The first condition that did not hold")
    stopped_by: str | None = Field(description="Matched, but this earlier rule's match had stopped evaluation")


class ChosenRoute(BaseModel):
    channel: str
    rule_id: str | None = Field(description="None: the workspace's default channel")


class ExplainedAlert(BaseModel):
    alert: NormalizedAlert
    routes: list[ChosenRoute] = Field(description="Where the alert's group would be announced, in order")
    default_channel_used: bool
    rules: list[RuleVerdict] = Field(description="Every rule, in evaluation order")


class RuleTestAnswer(BaseModel):
    alerts: list[ExplainedAlert] = Field(description="One per alert of the sample (a payload may carry several)")


def _verdict(verdict: Verdict) -> RuleVerdict:
    failed = verdict.failed
    return RuleVerdict.model_validate({
        "rule_id": verdict.rule_id, "name": verdict.name, "position": verdict.position, "enabled": verdict.enabled,
        "matched": verdict.matched, "routed": verdict.routed, "continue": verdict.continue_matching,
        "failed": FailedCondition(field=failed.field, operator=failed.operator, expected=failed.expected,
                                  actual=failed.actual) if failed else None,
        "stopped_by": verdict.stopped_by})


def explain_subject(alert: NormalizedAlert, rules: Sequence[RoutingRuleSaved],
                    default_channel: str | None) -> ExplainedAlert:
    """The routes the alert gets (channel and rule, in order) and every rule's verdict."""
    chosen = routes(alert, rules, default_channel)
    return ExplainedAlert(alert=alert, routes=[ChosenRoute(channel=r.channel, rule_id=r.rule_id) for r in chosen],
                          default_channel_used=bool(chosen) and chosen[0].rule is None,
                          rules=[_verdict(v) for v in explain(rules, alert)])


def explain_alerts(alerts: Sequence[NormalizedAlert], rules: Sequence[RoutingRuleSaved],
                   default_channel: str | None) -> RuleTestAnswer:
    return RuleTestAnswer(alerts=[explain_subject(alert, rules, default_channel) for alert in alerts])


def render_text(result: Mapping[str, Any]) -> list[str]:
    """The explanation (RuleTestAnswer as JSON, by alias) as lines for a terminal (`signalcraft rule test`)."""
    lines: list[str] = []
    for item in result["alerts"]:
        alert = item["alert"]
        lines.append(f"alert: [{alert['severity']}] {alert['environment']} {alert['project']} "
                     f"({alert['source']}) {alert['title']}")
        for rule in item["rules"]:
            lines.append(f"  {rule['position']:>6} {rule['rule_id']} ({rule['name']}): {_outcome(rule)}")
        where = ", ".join(f"{r['channel']} ({r['rule_id'] or 'default channel'})" for r in item["routes"])
        lines.append(f"  -> {where or 'no route (no rule matched and no default channel)'}")
    return lines


def _outcome(rule: Mapping[str, Any]) -> str:
    if not rule["enabled"]:
        return "disabled"
    if rule["routed"]:
        return "MATCH, continue" if rule["continue"] else "MATCH, stop"
    if rule["matched"]:
        return f"would match, but {rule['stopped_by']} stopped evaluation"
    failed = rule["failed"]
    actual = "absent" if failed["actual"] is None else repr(failed["actual"])
    return f"no: {failed['field']} {failed['operator']} {failed['expected']!r} (was {actual})"
