"""The deployment manifests agree with the code: docker-compose.yml and the Helm chart.

The chart is linted, rendered (`helm lint --strict`, `helm template`) and validated offline against
the Kubernetes schemas on every machine: `make test` installs the pinned helm into .venv/bin first.
`docker compose config` runs where a Docker daemon answers.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import promql_parser
import pytest
import yaml
from docker_engine import docker_available

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CHART = ROOT / "deploy" / "helm" / "signalcraft"
CHART_CI_VALUES = CHART / "ci" / "test-values.yaml"
CHART_ALL_OPTIONS = CHART / "ci" / "all-options-values.yaml"
KAFKA_DOC = ROOT / "docs" / "kafka.md"
OPERATE_DOC = ROOT / "docs" / "operate.md"
MONITORING_API = "monitoring.coreos.com"
# Kubernetes versions whose schemas kubernetes-validate ships (validated: the oldest and the newest).
KUBE_VERSIONS = sorted(set(kubernetes_validate.utils.all_versions()), key=lambda v: tuple(map(int, v.split("."))))

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
                     "secret.yaml", "ingress.yaml", "pdb.yaml", "hpa.yaml", "servicemonitor.yaml", "prometheusrule.yaml"):
        assert (CHART / "templates" / template).is_file(), template
    assert (CHART / "values.schema.json").is_file()


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


def helm_binary() -> str:
    """The helm that `make helm` puts next to the venv's python (make test installs it first)."""
    beside = Path(sys.executable).parent / "helm"
    found = str(beside) if beside.is_file() else shutil.which("helm")
    if found is None:
        pytest.fail("no helm binary: run `make helm` (make test does), which installs the pinned one into .venv/bin")
    return found


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=60)


def render(*values: Path | str, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """`helm template` with these values files (in order) and --set overrides; fails on a render error."""
    args = ["template", "sc", str(CHART), "--namespace", "sc"]
    for file in values:
        args += ["-f", str(file)]
    for item in sets:
        args += ["--set", item]
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def refused(*values: Path | str, sets: tuple[str, ...] = ()) -> str:
    args = ["template", "sc", str(CHART)] + [a for f in values for a in ("-f", str(f))]
    result = helm(*args, *[a for item in sets for a in ("--set", item)])
    assert result.returncode != 0, f"rendered although it should not: {sets}"
    return result.stderr


def validate_offline(docs: list[dict[str, Any]],
                     versions: tuple[str, ...] = (KUBE_VERSIONS[0], KUBE_VERSIONS[-1])) -> None:
    """Every object against the Kubernetes OpenAPI schemas that kubernetes-validate ships (no network,
    no cluster), strict: an unknown field is an error. By default on the oldest and newest versions it
    knows (about 0.5 s each for the whole chart). The Prometheus Operator's kinds have no schema
    there: test_monitoring_objects_have_the_operators_shape checks those."""
    for version in versions:
        for doc in docs:
            if doc["apiVersion"].startswith(f"{MONITORING_API}/"):
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} is invalid on Kubernetes {version}: {exc}")


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env_of_container(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container_of(deployment)["env"]}


def config_map(docs: list[dict[str, Any]]) -> dict[str, str]:
    (configmap,) = by_kind(docs, "ConfigMap").values()
    return configmap["data"]


def mounted_file(deployment: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret name, key) that a file path in the container comes from."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in container_of(deployment)["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            secret = volumes[mount["name"]]["secret"]
            item = path[len(prefix):]
            assert item in [i["path"] for i in secret["items"]], (path, secret)
            return secret["secretName"], next(i["key"] for i in secret["items"] if i["path"] == item)
    raise AssertionError(f"{path} is not on any mounted volume")


@pytest.fixture(scope="module")
def default_docs() -> list[dict[str, Any]]:
    """The chart's defaults plus the values it requires (ci/test-values.yaml)."""
    return render(CHART_CI_VALUES)


@pytest.fixture(scope="module")
def all_options_docs() -> list[dict[str, Any]]:
    return render(CHART_ALL_OPTIONS)


def test_helm_lint_passes_strict_with_defaults_and_with_every_option() -> None:
    for values in (CHART_CI_VALUES, CHART_ALL_OPTIONS):
        lint = helm("lint", str(CHART), "--strict", "-f", str(values))
        assert lint.returncode == 0, lint.stdout + lint.stderr
        assert "1 chart(s) linted, 0 chart(s) failed" in lint.stdout


def test_rendered_manifests_are_valid_kubernetes_objects(
        default_docs: list[dict[str, Any]], all_options_docs: list[dict[str, Any]]) -> None:
    validate_offline(default_docs)
    validate_offline(all_options_docs)
    kinds = {d["kind"] for d in all_options_docs}
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress",
            "ServiceAccount", "ServiceMonitor", "PrometheusRule"} <= kinds


def test_helm_lint_and_template(default_docs: list[dict[str, Any]]) -> None:
    docs = default_docs
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    deployments = by_kind(docs, "Deployment")
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
    missing = helm("template", "sc", str(CHART))
    assert missing.returncode != 0
    assert "set " in missing.stderr, missing.stderr


def test_defaults_create_topics_over_plaintext_with_the_charts_secret(default_docs: list[dict[str, Any]]) -> None:
    data = config_map(default_docs)
    assert data["SIGNALCRAFT_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert data["SIGNALCRAFT_KAFKA_CLIENT_ID"] == "signalcraft"
    assert (data["SIGNALCRAFT_CREATE_TOPICS"], data["SIGNALCRAFT_TOPIC_REPLICATION_FACTOR"]) == ("true", "1")
    assert not any(key.startswith(("SIGNALCRAFT_KAFKA_SASL", "SIGNALCRAFT_KAFKA_SSL")) for key in data)
    assert list(by_kind(default_docs, "Secret")) == ["sc-signalcraft-secrets"]
    assert by_kind(default_docs, "HorizontalPodAutoscaler") == {}
    # Off by default: they need the Prometheus Operator's CRDs.
    assert by_kind(default_docs, "ServiceMonitor") == {} and by_kind(default_docs, "PrometheusRule") == {}
    assert list(by_kind(default_docs, "PodDisruptionBudget")) == ["sc-signalcraft-ingest"]
    for dep in by_kind(default_docs, "Deployment").values():
        env = env_of_container(dep)
        assert "SIGNALCRAFT_KAFKA_SASL_PASSWORD" not in env
        assert env["SIGNALCRAFT_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "sc-signalcraft-secrets"
        assert dep["spec"]["replicas"] >= 1
    notifier = env_of_container(by_kind(default_docs, "Deployment")["sc-signalcraft-notifier"])
    assert notifier["SIGNALCRAFT_SLACK_BASE_URL"]["value"] == "https://slack.com/api/"


def test_every_option_takes_effect(all_options_docs: list[dict[str, Any]]) -> None:
    docs = all_options_docs
    options = yaml.safe_load(CHART_ALL_OPTIONS.read_text())
    prefix = options["fullnameOverride"]
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {f"{prefix}-{svc['name']}" for svc in options["services"].values()}

    # existingSecret: the chart makes no Secret, and every secret env var comes from the managed one.
    assert by_kind(docs, "Secret") == {}
    for dep in deployments.values():
        refs = [e["valueFrom"]["secretKeyRef"] for e in container_of(dep)["env"] if "secretKeyRef" in e.get("valueFrom", {})]
        assert {r["name"] for r in refs} - {"signalcraft-extra"} == {"signalcraft-managed"}
        assert "checksum/secret" not in dep["spec"]["template"]["metadata"]["annotations"]

    # Kafka security: SASL_SSL with SCRAM-SHA-512, credentials from the Secret, CA and client
    # certificate files mounted where the settings point.
    data = config_map(docs)
    assert data["SIGNALCRAFT_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert data["SIGNALCRAFT_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert data["SIGNALCRAFT_KAFKA_CLIENT_ID"] == "team-a-signalcraft"
    assert (data["SIGNALCRAFT_CREATE_TOPICS"], data["SIGNALCRAFT_TOPIC_REPLICATION_FACTOR"],
            data["SIGNALCRAFT_TOPIC_PARTITIONS"]) == ("false", "3", "12")
    assert "SIGNALCRAFT_KAFKA_SASL_PASSWORD" not in data, "a password in a ConfigMap"
    for dep in deployments.values():
        env = env_of_container(dep)
        for key in ("SIGNALCRAFT_KAFKA_SASL_USERNAME", "SIGNALCRAFT_KAFKA_SASL_PASSWORD"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "signalcraft-managed", "key": key}
        assert mounted_file(dep, data["SIGNALCRAFT_KAFKA_SSL_CA_FILE"]) == ("kafka-cluster-ca-cert", "ca.crt")
        assert mounted_file(dep, data["SIGNALCRAFT_KAFKA_SSL_CERT_FILE"]) == ("signalcraft-kafka-user", "user.crt")
        assert mounted_file(dep, data["SIGNALCRAFT_KAFKA_SSL_KEY_FILE"]) == ("signalcraft-kafka-user", "user.key")

    # Extra env (global, then per service, after the chart's own), envFrom and volumes.
    ingest = deployments[f"{prefix}-ingest"]
    names = [e["name"] for e in container_of(ingest)["env"]]
    assert names[-3:] == ["SIGNALCRAFT_INBOX_RETENTION_DAYS", "SIGNALCRAFT_KAFKA_EXTRA_FROM_SECRET",
                          "SIGNALCRAFT_MAX_BODY_BYTES"]
    assert container_of(ingest)["envFrom"][1:] == [{"configMapRef": {"name": "signalcraft-platform-env"}},
                                                   {"secretRef": {"name": "ingest-provider-secrets"}}]
    assert {"name": "platform-ca", "mountPath": "/etc/platform-ca", "readOnly": True} in container_of(ingest)["volumeMounts"]
    api_env = [e for e in container_of(deployments[f"{prefix}-api"])["env"] if e["name"] == "SIGNALCRAFT_PUBLIC_INGEST_URL"]
    assert api_env == [{"name": "SIGNALCRAFT_PUBLIC_INGEST_URL", "value": "https://hooks-override.example.test"}]

    # Resources per service.
    for svc in options["services"].values():
        assert container_of(deployments[f"{prefix}-{svc['name']}"])["resources"] == svc["resources"]

    # HPA (autoscaling/v2) where enabled, and then the Deployment leaves the replica count to it.
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {f"{prefix}-ingest", f"{prefix}-grouping"}
    ingest_hpa = hpas[f"{prefix}-ingest"]
    assert ingest_hpa["apiVersion"] == "autoscaling/v2"
    assert ingest_hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{prefix}-ingest"}
    assert (ingest_hpa["spec"]["minReplicas"], ingest_hpa["spec"]["maxReplicas"]) == (3, 20)
    assert {(m["resource"]["name"], m["resource"]["target"]["averageUtilization"]) for m in ingest_hpa["spec"]["metrics"]} \
        == {("cpu", 70), ("memory", 80)}
    assert "replicas" not in ingest["spec"] and "replicas" not in deployments[f"{prefix}-grouping"]["spec"]
    assert deployments[f"{prefix}-router"]["spec"]["replicas"] == 2

    # PDB per service where enabled.
    pdbs = {name: d["spec"] for name, d in by_kind(docs, "PodDisruptionBudget").items()}
    assert pdbs[f"{prefix}-ingest"]["minAvailable"] == 2 and "maxUnavailable" not in pdbs[f"{prefix}-ingest"]
    assert pdbs[f"{prefix}-grouping"]["maxUnavailable"] == 1
    assert pdbs[f"{prefix}-router"]["maxUnavailable"] == "50%"
    assert set(pdbs) == {f"{prefix}-ingest", f"{prefix}-grouping", f"{prefix}-router"}


def test_oauthbearer_token_comes_from_a_mounted_secret_file() -> None:
    docs = render(CHART_CI_VALUES, sets=("kafka.securityProtocol=SASL_SSL", "kafka.sasl.mechanism=OAUTHBEARER",
                                         "kafka.sasl.oauthTokenSecret.name=kafka-oauth"))
    validate_offline(docs, versions=(KUBE_VERSIONS[-1],))
    data = config_map(docs)
    assert data["SIGNALCRAFT_KAFKA_SASL_MECHANISM"] == "OAUTHBEARER"
    for dep in by_kind(docs, "Deployment").values():
        assert mounted_file(dep, data["SIGNALCRAFT_KAFKA_SASL_OAUTH_TOKEN_FILE"]) == ("kafka-oauth", "token")
        mount = next(m for m in container_of(dep)["volumeMounts"] if m["name"] == "kafka-oauth-token")
        assert "subPath" not in mount, "a subPath mount never sees the renewed token"
        assert "SIGNALCRAFT_KAFKA_SASL_PASSWORD" not in env_of_container(dep)
    (secret,) = by_kind(docs, "Secret").values()
    assert not any(key.startswith("SIGNALCRAFT_KAFKA_SASL") for key in secret["stringData"])


def test_sasl_credentials_go_into_the_charts_secret() -> None:
    docs = render(CHART_CI_VALUES, sets=("kafka.securityProtocol=SASL_SSL", "kafka.sasl.mechanism=PLAIN",
                                         "kafka.sasl.username=API_KEY", "kafka.sasl.password=API_SECRET"))
    (secret,) = by_kind(docs, "Secret").values()
    assert secret["stringData"]["SIGNALCRAFT_KAFKA_SASL_USERNAME"] == "API_KEY"
    assert secret["stringData"]["SIGNALCRAFT_KAFKA_SASL_PASSWORD"] == "API_SECRET"
    assert "SIGNALCRAFT_KAFKA_SSL_CA_FILE" not in config_map(docs), "SASL_SSL trusts the system CAs by default"


@pytest.mark.parametrize("sets, message", [
    (("kafka.securityProtocol=SASL_SSL",), "kafka.securityProtocol=SASL_SSL needs kafka.sasl.mechanism"),
    (("kafka.sasl.mechanism=PLAIN",), "kafka.sasl.mechanism=PLAIN needs kafka.securityProtocol SASL_SSL"),
    (("kafka.securityProtocol=SASL_SSL", "kafka.sasl.mechanism=SCRAM-SHA-256"), "set kafka.sasl.username"),
    (("kafka.securityProtocol=SASL_SSL", "kafka.sasl.mechanism=OAUTHBEARER"), "needs kafka.sasl.oauthTokenSecret.name"),
    (("kafka.tls.caSecret.name=ca",), "does not use TLS: use SSL or SASL_SSL"),
    (("kafka.sasl.mechanism=GSSAPI",), "value must be one of"),
    (("kafka.securityProtocol=TLS",), "value must be one of"),
    (("services.router.autoscaling.enabled=true", "services.router.autoscaling.maxReplicas=9"),
     "services.router.autoscaling.maxReplicas 9 exceeds topicPartitions 8"),
    (("services.router.autoscaling.enabled=true", "services.router.autoscaling.minReplicas=5",
      "services.router.autoscaling.maxReplicas=4"), "minReplicas 5 exceeds maxReplicas 4"),
    (("topicReplicationFactor=0",), "topicReplicationFactor"),
    (("services.router.replica=2",), "additional properties 'replica' not allowed"),
    (("kafak.bootstrapServers=x",), "additional properties 'kafak' not allowed"),
])
def test_settings_that_cannot_work_are_refused_at_install(sets: tuple[str, ...], message: str) -> None:
    assert message in refused(CHART_CI_VALUES, sets=sets)


def test_values_schema_declares_every_value() -> None:
    """Each key of values.yaml and of the every-option values is declared in values.schema.json, and
    every object the schema describes refuses keys it does not declare (a typo fails `helm lint`)."""
    schema = json.loads((CHART / "values.schema.json").read_text())

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].split("/")[-1]]
        return node

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        node = resolve(node)
        if isinstance(value, dict) and "properties" in node:
            for key, item in value.items():
                assert key in node["properties"], f"{path}.{key} is not in values.schema.json"
                walk(item, node["properties"][key], f"{path}.{key}")
        elif isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
            for key, item in value.items():
                walk(item, node["additionalProperties"], f"{path}.{key}")

    for values in (CHART / "values.yaml", CHART_ALL_OPTIONS):
        walk(yaml.safe_load(values.read_text()), schema, "")

    def strict(node: dict[str, Any], path: str) -> None:
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts undeclared keys"
        for key, child in node.get("properties", {}).items():
            strict(child, f"{path}.{key}")
    strict(schema, "")
    for name, definition in schema["definitions"].items():
        strict(definition, f"definitions.{name}")


def test_helm_values_examples_in_docs_render() -> None:
    """The Helm values of docs/kafka.md's worked examples render and validate."""
    examples = re.findall(r"```yaml\n(# helm values:.*?)```", KAFKA_DOC.read_text(), flags=re.S)
    assert len(examples) >= 2, "docs/kafka.md lost its Helm examples"
    for example in examples:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as values:
            values.write(example)
            values.flush()
            docs = render(CHART_CI_VALUES, values.name)
        validate_offline(docs, versions=(KUBE_VERSIONS[-1],))
        settings = yaml.safe_load(example)["kafka"]
        data = config_map(docs)
        assert data["SIGNALCRAFT_KAFKA_SECURITY_PROTOCOL"] == settings["securityProtocol"]
        assert data["SIGNALCRAFT_KAFKA_SASL_MECHANISM"] == settings["sasl"]["mechanism"]


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


# --- Prometheus Operator objects (metrics.serviceMonitor / metrics.prometheusRule) ---

RULE_ALERTS = {"SignalCraftIngestStalled", "SignalCraftConsumerLagGrowing", "SignalCraftOutboxStuck",
               "SignalCraftDeliveryFailing", "SignalCraftDeadLetters"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def exposed_metric_names() -> set[str]:
    """Every series name the services expose (signalcraft_runtime.metrics), with their suffixes."""
    from prometheus_client import Counter, Gauge, Histogram

    from signalcraft_runtime import metrics

    names: set[str] = set()
    for metric in vars(metrics).values():
        if isinstance(metric, Counter):
            names.add(f"{metric._name}_total")
        elif isinstance(metric, Histogram):
            names |= {f"{metric._name}_{suffix}" for suffix in ("bucket", "sum", "count")}
        elif isinstance(metric, Gauge):
            names.add(metric._name)
    return names


def test_monitoring_objects_have_the_operators_shape(all_options_docs: list[dict[str, Any]]) -> None:
    """kubernetes-validate has no schema for monitoring.coreos.com: the fields the Prometheus Operator
    reads are checked here, and every rule against the metrics the code exposes."""
    docs = all_options_docs
    options = yaml.safe_load(CHART_ALL_OPTIONS.read_text())["metrics"]
    (monitor,) = by_kind(docs, "ServiceMonitor").values()
    assert monitor["apiVersion"] == f"{MONITORING_API}/v1"
    assert monitor["metadata"]["labels"]["release"] == options["serviceMonitor"]["labels"]["release"]
    spec = monitor["spec"]
    assert set(spec) == {"namespaceSelector", "selector", "endpoints"}
    assert spec["namespaceSelector"] == {"matchNames": [monitor["metadata"]["namespace"]]}
    services = by_kind(docs, "Service")
    selected = {name for name, svc in services.items()
                if spec["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()}
    assert selected == set(services) and len(selected) == len(SERVICES), "the ServiceMonitor misses a Service"
    (endpoint,) = spec["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert all(endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]} for svc in services.values())
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == (options["serviceMonitor"]["interval"],
                                                              options["serviceMonitor"]["scrapeTimeout"])
    assert all(DURATION.match(endpoint[k]) for k in ("interval", "scrapeTimeout"))
    assert endpoint["relabelings"][0]["targetLabel"] == "component"

    (rule,) = by_kind(docs, "PrometheusRule").values()
    assert rule["apiVersion"] == f"{MONITORING_API}/v1"
    assert rule["metadata"]["labels"]["release"] == options["prometheusRule"]["labels"]["release"]
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == RULE_ALERTS
    exposed = exposed_metric_names()
    job = re.compile(re.search(r'job=~"([^"]+)"', alerts["SignalCraftOutboxStuck"]["expr"]).group(1))
    assert all(job.fullmatch(name) for name in services), "the rules' job selector misses a Service"
    for name, r in alerts.items():
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, name
        assert r["labels"]["severity"] in ("critical", "warning") and r["annotations"]["summary"], name
        assert "for" not in r or DURATION.match(r["for"]), name
        promql_parser.parse(r["expr"])  # raises on a syntax error
        used = set(re.findall(r"\bsignalcraft_[a-z_]+", r["expr"]))
        assert used and used <= exposed, f"{name} uses metrics no service exposes: {used - exposed}"
        assert f'namespace="{rule["metadata"]["namespace"]}"' in r["expr"], name
    # The thresholds come from the values.
    limits = options["prometheusRule"]
    assert f"> {limits['consumerLagRecords']}" in alerts["SignalCraftConsumerLagGrowing"]["expr"]
    assert f"> {limits['outboxAgeSeconds']}" in alerts["SignalCraftOutboxStuck"]["expr"]
    assert f"> {limits['deliveryFailureRatio']}" in alerts["SignalCraftDeliveryFailing"]["expr"]
    assert alerts["SignalCraftIngestStalled"]["for"] == limits["ingestStalledFor"]
    # docs/operate.md explains every alert the chart ships, with its query as the defaults render it.
    operate = OPERATE_DOC.read_text()
    result = helm("template", "sc", str(CHART), "--namespace", "signalcraft", "-f", str(CHART_CI_VALUES),
                  "--set", "metrics.prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml")
    assert result.returncode == 0, result.stderr
    for r in yaml.safe_load(result.stdout)["spec"]["groups"][0]["rules"]:
        assert f"**{r['alert']}**" in operate and r["expr"] in operate, f"docs/operate.md lacks {r['alert']} as rendered"
    # ...and every other query it shows parses.
    for block in re.findall(r"```promql\n(.*?)```", operate, flags=re.S):
        lines = [line for line in block.splitlines() if line.strip()]
        if any(line.startswith("#") for line in lines):  # commented one-line queries
            for line in lines:
                if not line.startswith("#"):
                    promql_parser.parse(line)
        else:
            promql_parser.parse(block)
