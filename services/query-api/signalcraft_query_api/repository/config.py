"""The configuration rows this service owns (workspaces, integrations, the Slack connection, routing
rules). Each write runs in the unit of work that also stages its config event for the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_schemas.events import IntegrationConfigured, RoutingRuleSaved, SlackConnected, WorkspaceConfigured

from .tables import integrations, routing_rules, slack_connections, workspaces


class ConfigRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def workspace_exists(self, workspace_id: str) -> bool:
        found = await self._conn.execute(select(workspaces.c.workspace_id).where(workspaces.c.workspace_id == workspace_id))
        return found.first() is not None

    async def workspaces(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in await self._conn.execute(select(workspaces).order_by(workspaces.c.created_at))]

    async def save_workspace(self, workspace: WorkspaceConfigured) -> None:
        row = workspace.model_dump()
        stmt = insert(workspaces).values(**row)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[workspaces.c.workspace_id], set_={k: stmt.excluded[k] for k in row if k != "workspace_id"}))

    async def integrations(self, workspace_id: str) -> list[dict[str, Any]]:
        """Without their secrets (nor their fingerprints)."""
        rows = await self._conn.execute(select(integrations).where(integrations.c.workspace_id == workspace_id))
        return [{k: v for k, v in r._mapping.items() if k not in ("secret_encrypted", "secret_fingerprint")}
                for r in rows]

    async def add_integration(self, integration: IntegrationConfigured, secret_fingerprint: str | None) -> bool:
        """False, and nothing stored, when another integration has the same secret fingerprint."""
        added = await self._conn.execute(insert(integrations).values(
            integration_id=integration.integration_id, workspace_id=integration.workspace_id,
            provider=integration.provider, name=integration.name, secret_encrypted=integration.secret_encrypted,
            options=integration.options, enabled=integration.enabled, secret_fingerprint=secret_fingerprint,
        ).on_conflict_do_nothing(index_elements=[integrations.c.secret_fingerprint])
            .returning(integrations.c.integration_id))
        return added.first() is not None

    async def secrets_without_fingerprint(self, providers: set[str]) -> list[tuple[str, str, str]]:
        """(integration_id, provider, secret_encrypted) of integrations stored before fingerprints were."""
        rows = await self._conn.execute(
            select(integrations.c.integration_id, integrations.c.provider, integrations.c.secret_encrypted)
            .where(integrations.c.provider.in_(providers), integrations.c.secret_fingerprint.is_(None))
            .order_by(integrations.c.created_at))
        return [(r.integration_id, r.provider, r.secret_encrypted) for r in rows]

    async def set_secret_fingerprint(self, integration_id: str, secret_fingerprint: str) -> bool:
        """False when another integration already has that fingerprint (a duplicate from before)."""
        taken = await self._conn.execute(select(integrations.c.integration_id).where(
            integrations.c.secret_fingerprint == secret_fingerprint))
        if taken.first() is not None:
            return False
        await self._conn.execute(update(integrations).where(integrations.c.integration_id == integration_id)
                                 .values(secret_fingerprint=secret_fingerprint))
        return True

    async def save_slack_connection(self, slack: SlackConnected, now: datetime) -> None:
        stmt = insert(slack_connections).values(
            workspace_id=slack.workspace_id, bot_token_encrypted=slack.bot_token_encrypted,
            signing_secret_encrypted=slack.signing_secret_encrypted, team_id=slack.team_id)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[slack_connections.c.workspace_id],
            set_={"bot_token_encrypted": slack.bot_token_encrypted,
                  "signing_secret_encrypted": slack.signing_secret_encrypted, "team_id": slack.team_id,
                  "connected_at": now}))

    async def rule_definitions(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = await self._conn.execute(select(routing_rules.c.definition).where(routing_rules.c.workspace_id == workspace_id))
        return [r.definition for r in rows]

    async def save_rule(self, rule: RoutingRuleSaved, now: datetime) -> bool:
        """The definition stored is the rule's event, as JSON. False, and nothing changed, when the
        rule id belongs to another workspace: a rule never moves between workspaces."""
        definition = rule.model_dump(mode="json")
        stmt = insert(routing_rules).values(rule_id=rule.rule_id, workspace_id=rule.workspace_id, definition=definition)
        saved = await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[routing_rules.c.rule_id], set_={"definition": definition, "updated_at": now},
            where=routing_rules.c.workspace_id == stmt.excluded.workspace_id,
        ).returning(routing_rules.c.rule_id))
        return saved.first() is not None

    async def delete_rule(self, rule_id: str) -> str | None:
        """Returns the deleted rule's workspace, or None when there was no such rule."""
        row = (await self._conn.execute(
            delete(routing_rules).where(routing_rules.c.rule_id == rule_id).returning(routing_rules.c.workspace_id))).first()
        return row.workspace_id if row is not None else None
