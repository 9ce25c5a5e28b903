"""Every API route's declared need, in one table (issue 11.1, the role matrix of 11.7).

The router-level dependency (`adapters/auth.require_token`, on every /api router) looks the request's
route up here: a route missing from the table is the super-user's only (deny by default), and
tests/unit/query_api/test_route_access.py fails until it is declared. Adding an endpoint = one line
in ROUTE_NEEDS (and, if its path has a new kind of id, one line in WORKSPACE_OWNED_IDS with its lookup
in repository/identity.py, so another workspace's id answers 404).
"""

from __future__ import annotations

from .identity import Need

# "METHOD path-template" -> what the caller needs in the workspace the request names.
ROUTE_NEEDS: dict[str, Need] = {
    # read
    "GET /api/alerts": Need.MEMBER,
    "GET /api/alert-groups": Need.MEMBER,
    "GET /api/alert-groups/{group_id}": Need.MEMBER,
    "GET /api/dashboard/overview": Need.MEMBER,
    "GET /api/delivery-health": Need.MEMBER,
    "GET /api/dead-letters": Need.MEMBER,  # without workspace_id: every workspace's, the super-user's
    # commands on groups (ack, unack, snooze, unsnooze, resolve, ...)
    "POST /api/alert-groups/{group_id}/{action}": Need.MEMBER,
    # configuration
    "POST /api/workspaces": Need.SUPERUSER,
    "PUT /api/workspaces/{workspace_id}": Need.ADMIN,
    "GET /api/workspaces": Need.MEMBER,
    "GET /api/integrations": Need.MEMBER,
    "POST /api/integrations": Need.ADMIN,
    "POST /api/slack/connect": Need.ADMIN,
    "GET /api/routing-rules": Need.MEMBER,
    "POST /api/routing-rules": Need.ADMIN,
    "PUT /api/routing-rules/{rule_id}": Need.ADMIN,
    "DELETE /api/routing-rules/{rule_id}": Need.ADMIN,
    # identity
    "GET /api/me": Need.MEMBER,
    "POST /api/workspaces/{workspace_id}/members": Need.OWNER,
    "GET /api/workspaces/{workspace_id}/members": Need.OWNER,
    "DELETE /api/workspaces/{workspace_id}/members/{user_id}": Need.OWNER,
    "POST /api/tokens": Need.OWNER,
    "GET /api/tokens": Need.OWNER,
    "DELETE /api/tokens/{token_id}": Need.OWNER,
    # issue 10's and 11's other endpoints, as they stood when this table was written
    "POST /api/routing-rules/simulate": Need.ADMIN,
    "GET /api/escalation-policies": Need.MEMBER,
    "GET /api/escalation-policies/{policy_id}": Need.MEMBER,
    "POST /api/escalation-policies": Need.ADMIN,
    "PUT /api/escalation-policies/{policy_id}": Need.ADMIN,
    "DELETE /api/escalation-policies/{policy_id}": Need.ADMIN,
    "GET /api/schedules": Need.MEMBER,
    "GET /api/schedules/{schedule_id}": Need.MEMBER,
    "GET /api/schedules/{schedule_id}/oncall": Need.MEMBER,
    "GET /api/schedules/{schedule_id}/handoffs": Need.MEMBER,
    "POST /api/schedules": Need.ADMIN,
    "PUT /api/schedules/{schedule_id}": Need.ADMIN,
    "DELETE /api/schedules/{schedule_id}": Need.ADMIN,
    "POST /api/delivery-health/slack-check": Need.ADMIN,
    "POST /api/routing-rules/test": Need.ADMIN,
    "PATCH /api/integrations/{integration_id}": Need.ADMIN,
    "DELETE /api/integrations/{integration_id}": Need.ADMIN,
    "POST /api/integrations/{integration_id}/rotate-secret": Need.ADMIN,
    "POST /api/integrations/{integration_id}/test": Need.ADMIN,
    "GET /api/slack/install": Need.ADMIN,
    "GET /api/slack/status": Need.MEMBER,
    "DELETE /api/slack": Need.ADMIN,
    "GET /api/stream": Need.MEMBER,
    "GET /api/admin/read-models": Need.SUPERUSER,
    "POST /api/admin/rebuild-read-models": Need.SUPERUSER,
}

# Routes that may name no workspace: they answer with the caller's own workspaces only.
LISTS_OWN_WORKSPACES: frozenset[str] = frozenset({
    "GET /api/workspaces", "GET /api/tokens", "GET /api/me",
})

# Path parameters that are ids of something in one workspace: the request names that workspace
# (looked up in repository/identity.WORKSPACE_OF), so another workspace's id answers 404.
WORKSPACE_OWNED_IDS: frozenset[str] = frozenset({
    "group_id", "rule_id", "integration_id", "token_id", "policy_id", "schedule_id"})
# Path parameters that name no workspace's thing (scoped by the workspace_id beside them, or not ids).
UNSCOPED_PATH_PARAMS: frozenset[str] = frozenset({"workspace_id", "action", "user_id"})


def route_key(method: str, path: str) -> str:
    return f"{'GET' if method == 'HEAD' else method} {path}"
