"""Every /api route of the app declares who may call it (issue 11.1/11.7). A new endpoint fails here
until it has a line in domain/route_access.ROUTE_NEEDS; a new kind of id in a path fails until the
access check can find its workspace (so another workspace's id answers 404)."""

from __future__ import annotations

import re

from signalcraft_query_api.domain.route_access import (
    LISTS_OWN_WORKSPACES, ROUTE_NEEDS, UNSCOPED_PATH_PARAMS, WORKSPACE_OWNED_IDS,
)
from signalcraft_query_api.main import QueryApiSettings, create_service
from signalcraft_query_api.repository.identity import WORKSPACE_OF

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def api_routes() -> set[str]:
    """The app's /api routes as "METHOD path", from its route table (the OpenAPI document)."""
    app = create_service(QueryApiSettings(admin_token="unit")).app()
    return {f"{method.upper()} {path}" for path, operations in app.openapi()["paths"].items()
            if path.startswith("/api/") for method in operations if method in HTTP_METHODS}


def test_every_api_route_declares_its_need():
    undeclared = sorted(api_routes() - set(ROUTE_NEEDS))
    assert not undeclared, (f"declare who may call {undeclared} in domain/route_access.ROUTE_NEEDS "
                            "(until then only the admin token may)")


def test_routes_that_list_ones_own_workspaces_are_declared():
    assert LISTS_OWN_WORKSPACES <= set(ROUTE_NEEDS)


def test_every_id_in_a_path_has_its_workspace_looked_up():
    params = {p for route in api_routes() for p in re.findall(r"{(\w+)}", route)}
    unknown = sorted(params - WORKSPACE_OWNED_IDS - UNSCOPED_PATH_PARAMS)
    assert not unknown, (f"path parameters {unknown}: add them to WORKSPACE_OWNED_IDS (with a lookup in "
                         "repository/identity.WORKSPACE_OF) or to UNSCOPED_PATH_PARAMS")
    assert set(WORKSPACE_OF) == WORKSPACE_OWNED_IDS
