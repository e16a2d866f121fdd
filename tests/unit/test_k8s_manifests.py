# Long: one rendered deployment, checked part by part.
"""The Kubernetes deployment (deploy/k8s), rendered offline (kustomize) for each overlay and
every document validated against its schema: Kubernetes' own kinds against those
`kubernetes-validate` bundles, the operators' custom resources against ../shared/k8s-schemas.
A field broken on purpose fails. Then what an operator relies on, read from what renders: the
shape of Kafka and PostgreSQL, the services' probes, resources, budgets and security, the
memory figures' sources, the alerts' metric names, the autoscalers' bounds, the network policy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certifi
import pytest

from events.topics import topics
from services import k8s_kafka, kafka_connection
from services.api.routes.health import router as health_router
from services.cli import PROCESSES
from services.settings import Settings
from tests.support import k8s

ROOT = Path(__file__).resolve().parents[2]
RESULTS = (ROOT / "bench" / "RESULTS.md").read_text()
Doc = dict[str, Any]


def _all(overlay: str, kind: str) -> list[Doc]:
    return [d for d in k8s.render(overlay) if d["kind"] == kind]


def _one(overlay: str, kind: str, name: str) -> Doc:
    (doc,) = [d for d in _all(overlay, kind) if d["metadata"]["name"] == name]
    return doc


def _container(deployment: Doc) -> Doc:
    containers: list[Doc] = deployment["spec"]["template"]["spec"]["containers"]
    (main,) = containers
    return main


def _env(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# --- every document valid ------------------------------------------------------------------


@pytest.mark.parametrize("overlay", k8s.OVERLAYS)
def test_every_document_of_the_overlay_is_valid_against_its_schema(overlay: str) -> None:
    docs = k8s.render(overlay)
    kinds = {d["kind"] for d in docs}
    assert {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "Cluster",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "ScaledObject",
        "TriggerAuthentication",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "NetworkPolicy",
    } <= kinds
    assert [p for d in docs for p in k8s.problems(d)] == []


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """Sets the field at `path` (dotted; a number indexes a list)."""

    def apply(doc: Doc) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return apply


def _rename(path: str, new: str) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[new] = node.pop(last)

    return apply


BROKEN = {
    # A misspelt field of a Kubernetes kind (strict schemas: no unknown field).
    "Deployment/ledger-api": _rename("spec.template.spec.containers.0.image", "imagee"),
    "PodDisruptionBudget/ledger-writer": _set("spec.maxUnavailable", {"pods": 1}),
    "NetworkPolicy/ledger-pg": _set("spec.ingress.0.ports.0.port", [5432]),
    # Custom resources, against the operators' schemas.
    "KafkaTopic/ledger.events": _set("spec.partitions", "six"),
    "KafkaNodePool/dual-role": _set("spec.roles", ["leader"]),
    "Kafka/ledger": _set("spec.kafka.listeners.0.authentication.type", "scram-sha-256"),
    "KafkaUser/ledger-writer": _set("spec.authorization.acls.0.resource.type", "table"),
    "Cluster/ledger-pg": _set("spec.instances", "3"),
    # KEDA: a scaler's metadata values are strings.
    "ScaledObject/ledger-risk": _set("spec.triggers.0.metadata.lagThreshold", 20000),
    "PrometheusRule/ledger": _rename("spec.groups.0.rules.0.expr", "expression"),
    "ServiceMonitor/ledger-api": _set("spec.endpoints.0.interval", 30),
}


@pytest.mark.parametrize("target", sorted(BROKEN))
def test_a_field_broken_on_purpose_fails_validation(target: str) -> None:
    docs = {k8s.name_of(d): d for d in k8s.documents("production")}
    doc = docs[target]
    assert k8s.problems(doc) == []
    BROKEN[target](doc)
    found = k8s.problems(doc)
    assert found and all(p.startswith(target) for p in found), found


def test_a_kind_without_a_schema_is_refused_not_waved_through() -> None:
    bridge = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaBridge",
        "metadata": {"name": "b"},
        "spec": {},
    }
    assert k8s.problems(bridge) == [
        f"KafkaBridge/b: no schema for kafka.strimzi.io/v1 KafkaBridge under {k8s.SCHEMAS}"
    ]


# --- Kafka and PostgreSQL --------------------------------------------------------------------


def test_production_kafka_is_three_kraft_nodes_replicating_every_record_thrice() -> None:
    pool = _one("production", "KafkaNodePool", "dual-role")
    assert pool["apiVersion"] == "kafka.strimzi.io/v1"
    assert pool["spec"]["replicas"] == 3
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    kafka = _one("production", "Kafka", "ledger")
    assert "zookeeper" not in kafka["spec"]
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False
    for topic in _all("production", "KafkaTopic"):
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == "2"


def test_the_topics_and_users_rendered_are_the_generated_ones() -> None:
    def key(d: Doc) -> str:
        return str(d["metadata"]["name"])

    for generated, kind in (
        (k8s_kafka.topic_resources(), "KafkaTopic"),
        (k8s_kafka.user_resources(), "KafkaUser"),
    ):
        copies = [d for d in k8s.documents("production") if d["kind"] == kind]
        rendered = sorted(copies, key=key)
        for r in rendered:
            r["metadata"]["labels"].pop("app.kubernetes.io/part-of")
            r["metadata"].pop("namespace")
        assert rendered == sorted(generated, key=key)


def test_dev_is_one_of_everything() -> None:
    assert _one("dev", "KafkaNodePool", "dual-role")["spec"]["replicas"] == 1
    config = _one("dev", "Kafka", "ledger")["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == config["min.insync.replicas"] == 1
    assert config["transaction.state.log.replication.factor"] == 1
    for topic in _all("dev", "KafkaTopic"):
        assert topic["spec"]["replicas"] == 1
        assert topic["spec"]["config"]["min.insync.replicas"] == "1"
    pg = _one("dev", "Cluster", "ledger-pg")
    assert pg["spec"]["instances"] == 1
    assert "synchronous" not in pg["spec"]["postgresql"]
    for d in _all("dev", "Deployment"):
        assert d["spec"].get("replicas", 1) == 1, d["metadata"]["name"]
    for s in _all("dev", "ScaledObject"):
        assert s["spec"]["minReplicaCount"] == s["spec"]["maxReplicaCount"] == 1


def test_postgresql_has_a_synchronous_replica_and_the_app_connects_to_the_primary() -> None:
    pg = _one("production", "Cluster", "ledger-pg")
    assert pg["spec"]["instances"] == 3
    assert pg["spec"]["postgresql"]["synchronous"]["number"] >= 1
    assert pg["spec"]["bootstrap"]["initdb"] == {"database": "ledger", "owner": "ledger"}
    assert pg["spec"]["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    data = _one("production", "ConfigMap", "ledger-config")["data"]
    assert data["DATABASE_URL"].startswith("postgresql://ledger-pg-rw:5432/ledger?")
    assert "sslmode=verify-full" in data["DATABASE_URL"]
    users = [*_all("production", "Deployment"), *_all("production", "Job")]
    for workload in users:
        env = _env(_container(workload))
        assert env["PGUSER"] == {"secretKeyRef": {"name": "ledger-pg-app", "key": "username"}}
        assert env["PGPASSWORD"] == {"secretKeyRef": {"name": "ledger-pg-app", "key": "password"}}


def _pod_environment(workload: Doc, container: Doc, tmp_path: Path) -> dict[str, str]:
    """The environment `container` of `workload` starts with: the ConfigMap's, then its own;
    a Secret's value as some text, and each file path under one of its mounts made a file of
    tmp_path (the CA bundle for a CA, some text for a password), after checking that the
    mount's Secret has that key."""
    data = _one("production", "ConfigMap", "ledger-config")["data"]
    assert container["envFrom"] == [{"configMapRef": {"name": "ledger-config"}}]
    env: dict[str, str] = dict(data)
    for e in container.get("env", []):
        env[e["name"]] = e.get("value", "from-a-secret")
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
    for name, value in env.items():
        for path in re.findall(r"/var/run/secrets/[\w./-]+", value):
            (mount,) = [m for m in mounts if path.startswith(m + "/")]
            key = path[len(mount) + 1 :]
            volume = volumes[mounts[mount]]["secret"]
            assert key in {i["path"] for i in volume["items"]}, (name, path)
            local = tmp_path / mounts[mount] / key
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(Path(certifi.where()).read_text() if key.endswith(".crt") else "pw")
            env[name] = env[name].replace(path, str(local))
    return env


# The processes that read and write PostgreSQL only: the webhook deliverer, the alert router.
_NO_KAFKA = ("ledger-webhooks", "ledger-alerts")


@pytest.mark.parametrize(
    "workload", [f"Deployment/ledger-{p}" for p in PROCESSES] + ["Job/ledger-migrate"]
)
def test_each_pods_environment_is_settings_its_process_accepts(
    workload: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kind, name = workload.split("/")
    doc = _one("production", kind, name)
    pod = doc["spec"]["template"]["spec"]
    for container in [*pod["containers"], *pod.get("initContainers", [])]:
        for var, value in _pod_environment(doc, container, tmp_path).items():
            monkeypatch.setenv(var, value)
        settings = Settings()
        assert settings.topic_prefix == k8s_kafka.PREFIX
        assert settings.writer_group == k8s_kafka.WRITER_GROUP
        assert settings.kafka_bootstrap_servers == "ledger-kafka-bootstrap:9093"
        assert settings.probe_port == 8080
        assert settings.api_workers == 1
        assert settings.log_format == "json"
        # Dynamic group membership: a pod's name (the default id) changes at every restart.
        assert settings.writer_instance_id == ""
        assert settings.projector_instance_id == settings.risk_instance_id == ""
        kafka = kafka_connection.client_options(settings)  # the CA file loads
        if container in pod["containers"] and name not in _NO_KAFKA and kind != "Job":
            assert kafka["security_protocol"] == "SASL_SSL"
            assert kafka["sasl_plain_username"] == name  # its KafkaUser
            assert kafka["sasl_plain_password"] == "pw"  # read from the mounted file
        else:
            assert kafka == {}
        for var in [v for v in os.environ if v.startswith(("LEDGER_", "KAFKA_", "DATABASE_"))]:
            monkeypatch.delenv(var)


# --- the services --------------------------------------------------------------------------


def test_each_process_is_a_deployment_running_it() -> None:
    deployments = {d["metadata"]["name"]: d for d in _all("production", "Deployment")}
    assert set(deployments) == {f"ledger-{p}" for p in PROCESSES}
    for process in PROCESSES:
        main = _container(deployments[f"ledger-{process}"])
        assert main["command"] == ["ledger"]
        assert main["args"] == ["serve", process]
        assert main["image"] == "registry.example.com/markup-ledger:0.1.0"


@pytest.mark.parametrize("overlay", k8s.OVERLAYS)
def test_probes_ask_what_each_process_answers(overlay: str) -> None:
    api_paths = {r.path for r in health_router.routes}  # type: ignore[attr-defined]
    for d in _all(overlay, "Deployment"):
        main = _container(d)
        ports = {p["name"]: p["containerPort"] for p in main["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = main[probe]["httpGet"]
            assert get["port"] in ports
            if d["metadata"]["name"] == "ledger-api":
                assert get["path"] in api_paths
                # The pod sets no LEDGER_API_PORT: the class's default, whatever this
                # machine's environment says (a run beside a local stack moves it).
                assert ports[get["port"]] == Settings.model_fields["api_port"].default
            else:
                assert get["path"] in ("/livez", "/readyz")
                assert ports[get["port"]] == 8080  # LEDGER_PROBE_PORT (the ConfigMap)
        # Liveness never depends on Kafka or PostgreSQL: an outage must not restart the pods.
        if d["metadata"]["name"] == "ledger-api":
            assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert _env(main)["LEDGER_API_HOST"] == "0.0.0.0"


def test_the_migrations_run_as_a_job_before_the_api_starts() -> None:
    job = _one("production", "Job", "ledger-migrate")
    assert _container(job)["args"] == ["db", "migrate"]
    (wait,) = _one("production", "Deployment", "ledger-api")["spec"]["template"]["spec"][
        "initContainers"
    ]
    assert wait["args"][:2] == ["wait", "migrations"]
    assert wait["image"] == _container(job)["image"]
    # The API is never left with fewer pods than wanted while a version rolls out.
    strategy = _one("production", "Deployment", "ledger-api")["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def _pods(overlay: str) -> list[tuple[str, Doc]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"])
        for d in [*_all(overlay, "Deployment"), *_all(overlay, "Job")]
    ]


@pytest.mark.parametrize("overlay", k8s.OVERLAYS)
def test_every_pod_runs_as_non_root_without_privileges(overlay: str) -> None:
    for name, pod in _pods(overlay):
        security = pod["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] != 0, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["spec"]["automountServiceAccountToken"] is False, name
        for c in [*pod["spec"]["containers"], *pod["spec"].get("initContainers", [])]:
            assert c["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, name


def test_every_deployment_has_a_budget_and_spreads_over_nodes() -> None:
    budgets = _all("production", "PodDisruptionBudget")
    for d in _all("production", "Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        mine = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(mine) == 1, d["metadata"]["name"]
        assert mine[0]["spec"]["maxUnavailable"] == 1
        spread = d["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {s["topologyKey"] for s in spread} >= {"kubernetes.io/hostname"}
        for s in spread:
            assert s["labelSelector"]["matchLabels"].items() <= labels.items()


_FIGURE = r"([\d,]+) MiB"


def _cited(figure: str) -> int:
    """A figure of the basis, which bench/RESULTS.md must state as it is written."""
    assert f"{figure} MiB" in RESULTS, f"{figure} MiB is not in bench/RESULTS.md"
    return int(figure.replace(",", ""))


def _round32(mib: float) -> int:
    return -(-int(mib * 2) // 64) * 32  # 1.5 x, and up to a multiple of 32


def _mib(quantity: str) -> int:
    if quantity.endswith("Gi"):
        return int(quantity[:-2]) * 1024
    assert quantity.endswith("Mi"), quantity
    return int(quantity[:-2])


@pytest.mark.parametrize("overlay", k8s.OVERLAYS)
def test_memory_comes_from_the_measurements_it_cites(overlay: str) -> None:
    """request = 1.5 x a typical peak and limit = 1.5 x the worst one measured (or 2 x the
    request when only one was), rounded up to 32 MiB; each figure found in bench/RESULTS.md."""
    sized = [
        (d["metadata"]["annotations"]["markup-ledger/memory-basis"], _container(d)["resources"])
        for d in [*_all(overlay, "Deployment"), *_all(overlay, "Job")]
    ]
    pool = _one(overlay, "KafkaNodePool", "dual-role")
    sized.append(
        (pool["metadata"]["annotations"]["markup-ledger/memory-basis"], pool["spec"]["resources"])
    )
    for basis, resources in sized:
        assert basis.startswith("bench/RESULTS.md"), basis
        typical = re.search(r"request: 1\.5 × " + _FIGURE, basis)
        assert typical, basis
        expected = _round32(1.5 * _cited(typical.group(1)))
        assert _mib(resources["requests"]["memory"]) == expected, basis
        worst = re.search(r"limit: 1\.5 × " + _FIGURE, basis)
        if worst:
            expected_limit = _round32(1.5 * _cited(worst.group(1)))
        else:
            assert "limit: 2 × request" in basis, basis
            expected_limit = 2 * expected
        assert _mib(resources["limits"]["memory"]) == expected_limit, basis
        assert "cpu" in resources["requests"]
    pg = _one(overlay, "Cluster", "ledger-pg")
    basis = pg["metadata"]["annotations"]["markup-ledger/memory-basis"]
    shared = re.search(r"request: (\d+) MiB \(shared_buffers\) \+ 1\.5 × " + _FIGURE, basis)
    assert shared and pg["spec"]["postgresql"]["parameters"]["shared_buffers"] == (
        f"{shared.group(1)}MB"
    )
    request = _round32(int(shared.group(1)) + 1.5 * _cited(shared.group(2)))
    assert _mib(pg["spec"]["resources"]["requests"]["memory"]) == request
    assert _mib(pg["spec"]["resources"]["limits"]["memory"]) == 2 * request


# --- Kafka users, autoscaling, monitoring, network ----------------------------------------


def test_each_kafka_client_runs_as_its_own_kafka_user() -> None:
    users = {u["metadata"]["name"] for u in _all("production", "KafkaUser")}
    clients = set()
    for d in _all("production", "Deployment"):
        pod = d["spec"]["template"]
        user = _env(_container(d)).get("LEDGER_KAFKA_SASL_USERNAME")
        secrets = {v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v}
        if pod["metadata"]["labels"].get("markup-ledger/kafka-client") == "true":
            assert user in users, d["metadata"]["name"]
            assert {user, "ledger-cluster-ca-cert"} <= secrets
            clients.add(user)
        else:
            assert user is None and "ledger-cluster-ca-cert" not in secrets
    assert clients == users
    assert (
        "markup-ledger/kafka-client"
        not in (
            _one("production", "Deployment", "ledger-webhooks")["spec"]["template"]["metadata"][
                "labels"
            ]
        )
    )


def test_the_projector_and_risk_agent_scale_between_one_and_a_pod_per_partition() -> None:
    partitions = topics().events.partitions
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in _all("production", "ScaledObject")}
    assert set(scaled) == {"ledger-projector", "ledger-risk"}
    for name, s in scaled.items():
        assert 1 <= s["spec"]["minReplicaCount"] <= s["spec"]["maxReplicaCount"] <= partitions
        # A rebalance per change of members: scaled down one pod at a time, slowly.
        down = s["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert down["stabilizationWindowSeconds"] >= 300
        assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]
        # The autoscaler owns the count: the Deployment does not fight it at every apply.
        assert "replicas" not in _one("production", "Deployment", name)["spec"]
    (risk,) = scaled["ledger-risk"]["spec"]["triggers"]
    assert risk["type"] == "kafka"
    assert risk["metadata"]["consumerGroup"] == "ledger-risk"
    assert risk["metadata"]["topic"] == topics("ledger").events.name
    auth = _one("production", "TriggerAuthentication", risk["authenticationRef"]["name"])
    assert {r["name"] for r in auth["spec"]["secretTargetRef"]} == {
        "ledger-risk",
        "ledger-cluster-ca-cert",
    }
    (projector,) = scaled["ledger-projector"]["spec"]["triggers"]
    assert projector["type"] == "prometheus"
    assert "ledger_projection_lag_events" in projector["metadata"]["query"]


def _exported() -> set[str]:
    """The metric names /metrics exports (services/api/http/metrics.py), with the suffixes the
    exposition adds to counters and histograms."""
    source = (ROOT / "services" / "api" / "http" / "metrics.py").read_text()
    names = set(re.findall(r'"(ledger_[a-z_]+)"', source))
    counters = set(re.findall(r'Counter\(\s*"(ledger_[a-z_]+)"', source))
    histograms = set(re.findall(r'Histogram\(\s*"(ledger_[a-z_]+)"', source))
    return (
        (names - counters - histograms)
        | {f"{n}_total" for n in counters}
        | {f"{n}_{s}" for n in histograms for s in ("bucket", "sum", "count")}
    )


def test_every_alert_reads_a_metric_that_is_exported() -> None:
    rules = _one("production", "PrometheusRule", "ledger")["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules}
    exported = _exported()
    # kube-state-metrics (the workers have no /metrics of their own): the only other source.
    others = {"kube_deployment_status_replicas_unavailable"}
    for name, rule in alerts.items():
        used = set(re.findall(r"\b(ledger_[a-z_]+|kube_[a-z_]+)\b", rule["expr"]))
        assert used and used <= exported | others, (name, used - exported - others)
        assert rule["labels"]["severity"] in ("warning", "critical")
    # What the issue asks to watch: consumer lag, readiness, dead letters, verdict latency.
    assert {
        "LedgerWriterLagging",
        "LedgerProjectorLagging",
        "LedgerRiskAgentLagging",
        "LedgerNotReady",
        "LedgerDeadLetters",
        "LedgerVerdictLatencyHigh",
    } <= set(alerts)


def test_the_servicemonitor_scrapes_the_api_service() -> None:
    monitor = _one("production", "ServiceMonitor", "ledger-api")
    service = _one("production", "Service", "ledger-api")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    token = _env(_container(_one("production", "Deployment", "ledger-api")))["LEDGER_METRICS_TOKEN"]
    assert token["secretKeyRef"]["name"] == endpoint["authorization"]["credentials"]["name"]


def test_only_the_services_reach_postgresql_and_kafka() -> None:
    (policy,) = _all("production", "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "ledger-pg"}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    sources = [f for rule in policy["spec"]["ingress"] for f in rule["from"]]
    app = [s["podSelector"]["matchLabels"] for s in sources if "namespaceSelector" not in s]
    assert {
        "app.kubernetes.io/part-of": "markup-ledger",
        "markup-ledger/postgres-client": "true",
    } in app
    for _, pod in _pods("production"):
        assert pod["metadata"]["labels"]["markup-ledger/postgres-client"] == "true"
        assert pod["metadata"]["labels"]["app.kubernetes.io/part-of"] == "markup-ledger"
    # Kafka's only listener: TLS, SCRAM-SHA-512, and admitting the ledger's Kafka clients (and
    # KEDA's operator, which reads the risk agent's lag) only.
    (listener,) = _one("production", "Kafka", "ledger")["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True
    assert listener["authentication"] == {"type": "scram-sha-512"}
    peers = listener["networkPolicyPeers"]
    assert {
        "app.kubernetes.io/part-of": "markup-ledger",
        "markup-ledger/kafka-client": "true",
    } in [p["podSelector"]["matchLabels"] for p in peers if "namespaceSelector" not in p]
    assert all("podSelector" in p for p in peers)


def test_every_alert_has_what_to_do_in_the_operations_guide() -> None:
    rules = _one("production", "PrometheusRule", "ledger")["spec"]["groups"][0]["rules"]
    guide = (ROOT / "docs" / "operations.md").read_text()
    for rule in rules:
        assert f"- `{rule['alert']}` ({rule['labels']['severity']}):" in guide, rule["alert"]
