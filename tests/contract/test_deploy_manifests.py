"""The deployment manifests agree with the code: docker-compose.yml and the Helm chart.

Checks that need tools run only where the tools are: `helm lint`/`helm template` when `helm` is on
PATH, `docker compose config` when a Docker daemon answers.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker_engine import docker_available

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CHART = ROOT / "deploy" / "helm" / "signalcraft"
CHART_CI_VALUES = CHART / "ci" / "test-values.yaml"

# compose service / chart key -> (module run with `python -m`, Settings class in <module>.main)
SERVICES: dict[str, tuple[str, str]] = {
    "ingest": ("signalcraft_ingest", "IngestSettings"),
    "grouping": ("signalcraft_grouping", "GroupingSettings"),
    "router": ("signalcraft_router", "RouterSettings"),
    "notifier": ("signalcraft_notifier", "NotifierSettings"),
    "escalator": ("signalcraft_escalator", "EscalatorSettings"),
    "query-api": ("signalcraft_query_api", "QueryApiSettings"),
}
REQUIRED_ENV = ("SIGNALCRAFT_DATABASE_URL", "SIGNALCRAFT_KAFKA_BOOTSTRAP_SERVERS", "SIGNALCRAFT_SECRET_KEY")


SERVICES_BY_MODULE = {module: cls for module, cls in SERVICES.values()}


def default_port(module: str) -> int:
    """The port a service listens on when SIGNALCRAFT_HTTP_PORT is unset (its Settings class)."""
    settings_cls = getattr(importlib.import_module(f"{module}.main"), SERVICES_BY_MODULE[module])
    return int(settings_cls.model_fields["http_port"].default)


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    assert command, "no command"
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def module_of(command: list[str]) -> str:
    assert "-m" in command, f"command does not run a module: {command}"
    return command[command.index("-m") + 1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


# --- docker-compose.yml ---

def test_compose_has_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in [*SERVICES, "fake-slack", "kafka", "postgres"]:
        assert name in services, f"{name} missing from docker-compose.yml"


def test_compose_services_get_required_env(compose: dict[str, Any]) -> None:
    for name, (module, _) in SERVICES.items():
        env = env_of(compose["services"][name])
        for key in REQUIRED_ENV:
            assert env.get(key), f"{name} lacks {key}"
        assert env.get("SIGNALCRAFT_HTTP_HOST") == "0.0.0.0", f"{name} must listen on all interfaces in a container"
        assert int(env["SIGNALCRAFT_HTTP_PORT"]) == default_port(module), f"{name} port differs from its Settings default"
    # Secrets come from .env and fail fast when missing.
    assert ":?" in env_of(compose["services"]["ingest"])["SIGNALCRAFT_SECRET_KEY"]
    assert ":?" in env_of(compose["services"]["query-api"])["SIGNALCRAFT_ADMIN_TOKEN"]


def test_compose_commands_run_importable_modules(compose: dict[str, Any]) -> None:
    for name, (module, _) in SERVICES.items():
        command = command_of(compose["services"][name])
        assert module_of(command) == module
    fake_slack = module_of(command_of(compose["services"]["fake-slack"]))
    for name in [*SERVICES, "fake-slack"]:
        module = module_of(command_of(compose["services"][name]))
        assert importlib.util.find_spec(module) is not None, f"{name}: {module} is not importable"
    assert fake_slack == "signalcraft_devstack.fake_slack"


def test_compose_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in [*SERVICES, "fake-slack", "kafka", "postgres"]:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name, (module, _) in SERVICES.items():
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f":{default_port(module)}/healthz" in test, f"{name} healthcheck is not its /healthz"
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["kafka"]["condition"] in ("service_healthy", "service_started")
        assert services[name].get("build") or services[name].get("image")
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert "PLAINTEXT://kafka:9092" in env_of(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_publishes_api_and_ingest(compose: dict[str, Any]) -> None:
    def published(name: str) -> set[str]:
        return {str(p).split(":")[-2] if str(p).count(":") else str(p) for p in compose["services"][name].get("ports", [])}

    assert "8000" in published("query-api")
    assert "8001" in published("ingest")


def test_compose_notifier_uses_fake_slack_by_default(compose: dict[str, Any]) -> None:
    services = compose["services"]
    url = env_of(services["notifier"])["SIGNALCRAFT_SLACK_BASE_URL"]
    assert ":8006/api/" in url
    assert "--port" in command_of(services["fake-slack"]) and "8006" in command_of(services["fake-slack"])
    # fake-slack binds loopback only, so it shares notifier's network namespace.
    if "127.0.0.1" in url:
        assert services["fake-slack"].get("network_mode") == "service:notifier"


# --- Helm chart ---

def test_chart_metadata_parses() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "signalcraft"
    assert chart["version"] and chart["appVersion"]
    for template in ("_helpers.tpl", "NOTES.txt", "deployments.yaml", "services.yaml", "configmap.yaml",
                     "secret.yaml", "ingress.yaml", "pdb.yaml"):
        assert (CHART / "templates" / template).is_file(), template


def test_chart_services_match_the_code(values: dict[str, Any]) -> None:
    services = values["services"]
    assert set(services) == set(SERVICES)
    for key, svc in services.items():
        module = svc["module"]
        assert module == SERVICES[key][0]
        assert importlib.util.find_spec(module) is not None, f"{key}: {module} is not importable"
        assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} cannot run with python -m"
        assert svc["port"] == default_port(module), f"{key}: port {svc['port']} != Settings default"
        assert svc["replicas"] >= 1
        assert "resources" in svc and "extraEnv" in svc
    assert services["ingest"]["podDisruptionBudget"]["enabled"] is True
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert {p["service"] for p in values["ingress"]["paths"]} <= set(services)


def _helm() -> str:
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm is not on PATH: `helm lint` / `helm template` not run (the chart's YAML is still checked above)")
    return helm


def test_helm_lint_and_template() -> None:
    helm = _helm()
    lint = subprocess.run([helm, "lint", str(CHART), "--strict", "-f", str(CHART_CI_VALUES)],
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = subprocess.run([helm, "template", "sc", str(CHART), "-f", str(CHART_CI_VALUES), "--namespace", "sc"],
                              capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert len(deployments) == len(SERVICES), kinds
    assert sum(1 for kind, _ in kinds if kind == "Service") == len(SERVICES)
    assert ("PodDisruptionBudget", "sc-signalcraft-ingest") in kinds
    assert any(kind == "Ingress" for kind, _ in kinds)
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert "checksum/config" in pod["metadata"]["annotations"]
        env = {e["name"] for e in container["env"]}
        assert {"SIGNALCRAFT_DATABASE_URL", "SIGNALCRAFT_SECRET_KEY", "SIGNALCRAFT_HTTP_PORT"} <= env
    # Without Kafka, database and secrets the chart refuses to render, naming what to set.
    missing = subprocess.run([helm, "template", "sc", str(CHART)], capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0
    assert "set " in missing.stderr, missing.stderr


@pytest.mark.docker
def test_docker_compose_config_is_valid() -> None:
    if not docker_available():
        pytest.skip("no Docker daemon answers `docker info`: `docker compose config -q` not run")
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20).returncode != 0:
        pytest.skip("the docker compose plugin is not installed: `docker compose config -q` not run")
    env = {**os.environ,
           "SIGNALCRAFT_SECRET_KEY": os.environ.get("SIGNALCRAFT_SECRET_KEY", "0" * 43 + "="),
           "SIGNALCRAFT_ADMIN_TOKEN": os.environ.get("SIGNALCRAFT_ADMIN_TOKEN", "test-token")}
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
