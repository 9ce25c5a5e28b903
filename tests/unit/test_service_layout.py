"""Every service has the same spine (README, "Layout"); these checks keep it that way.

main.py composes, handlers.py stays small and free of SQL and outside calls, domain/ is pure,
repository.py owns the tables and SQL, adapters/ talk to the outside world.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p for p in (ROOT / "services").glob("*/signalcraft_*") if p.is_dir())
HANDLER_MAX_LINES = 20
FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "alembic", "aiokafka", "faststream", "slack_sdk", "httpx",
              "aiohttp", "psycopg", "uvicorn", "signalcraft_runtime")
OUTSIDE_CALLS = ("sqlalchemy", "slack_sdk", "httpx", "aiohttp", "fastapi", "psycopg")
CLOCK_CALLS = ("now", "utcnow", "today", "time", "monotonic")


def _modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "migrations" not in p.relative_to(package).parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _top(name: str) -> str:
    return name.split(".")[0]


def _is_repository(package: Path, path: Path) -> bool:
    parts = path.relative_to(package).parts
    return parts[0] in ("repository.py", "repository")


def test_there_are_six_services():
    assert [p.parent.name for p in PACKAGES] == ["escalator", "grouping", "ingest", "notifier", "query-api", "router"]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.parent.name)
def test_every_service_has_the_spine(package: Path):
    assert (package / "main.py").is_file()
    assert (package / "handlers.py").is_file()
    assert (package / "domain" / "__init__.py").is_file()
    assert (package / "repository.py").is_file() or (package / "repository" / "__init__.py").is_file()


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.parent.name)
def test_handlers_are_small_and_make_no_outside_calls(package: Path):
    path = package / "handlers.py"
    tree = ast.parse(path.read_text())
    long = [f"{node.name}: {node.end_lineno - node.lineno + 1} lines"  # type: ignore[operator]
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > HANDLER_MAX_LINES]  # type: ignore[operator]
    assert not long, f"{path.relative_to(ROOT)} has functions over {HANDLER_MAX_LINES} lines: {long}"
    outside = sorted(i for i in _imports(path) if _top(i) in OUTSIDE_CALLS)
    assert not outside, f"{path.relative_to(ROOT)} imports {outside}: SQL and outside calls live elsewhere"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.parent.name)
def test_tables_and_sql_live_only_in_the_repository(package: Path):
    offenders = []
    for path in _modules(package):
        if _is_repository(package, path):
            continue
        if any(_top(i) == "sqlalchemy" for i in _imports(path)) or "Table(" in path.read_text():
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"tables or SQL outside repository modules: {offenders}"


SHARED_DOMAIN = ROOT / "libs" / "policies" / "signalcraft_policies"  # rules, policies, schedules: pure too


@pytest.mark.parametrize("domain", [p / "domain" for p in PACKAGES] + [SHARED_DOMAIN],
                         ids=lambda p: p.parent.parent.name if p.name == "domain" else "libs/policies")
def test_the_domain_is_pure(domain: Path):
    offenders = []
    for path in sorted(domain.rglob("*.py")):
        framework = sorted(i for i in _imports(path) if _top(i) in FRAMEWORKS)
        clock = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                 and node.func.attr in CLOCK_CALLS and isinstance(node.func.value, ast.Name)
                 and node.func.value.id in ("datetime", "date", "time")]
        if framework or clock:
            offenders.append(f"{path.relative_to(ROOT)}: imports {framework}, reads the clock at lines {clock}")
    assert not offenders, offenders


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.parent.name)
def test_no_service_builds_its_own_consume_loop(package: Path):
    offenders = [str(p.relative_to(ROOT)) for p in _modules(package)
                 if "subscribe_batches" in p.read_text() or ".subscriber(" in p.read_text()]
    assert not offenders, f"consume through the runtime's batch consumer (Service.add_consumer): {offenders}"


def test_providers_share_helpers_through_a_common_module_not_a_sibling():
    providers = next((ROOT / "services" / "ingest").rglob("providers"))
    names = {p.stem for p in providers.glob("*.py")} - {"__init__", "base", "common"}
    offenders = []
    for path in sorted(providers.glob("*.py")):
        if path.stem not in names:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in names:
                offenders.append(f"{path.stem} imports {node.module}")
    assert not offenders, offenders
