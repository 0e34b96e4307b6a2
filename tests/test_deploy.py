"""deploy/: the Kubernetes overlays render and validate strictly and keep their rules
(probes, resources, non-root, autoscalers, budgets, network policies, migration Jobs);
the Compose file keeps its rules (required secrets, only the gateway published,
healthchecks, ordered start, one database per process); the image recipe; the
operations guide; the schema gate; and the production profile refusing unsafe settings,
also when it is fed the environment the deployments actually give each process.

kubectl must be installed (it is on the build machines and in CI): without it the
Kubernetes tests fail, they do not skip."""

from __future__ import annotations

import copy
import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from auxpol.processes import PROCESSES as PROCESS_DEFS
from deploy import check
from kernel.migrations import upgrade
from kernel.testing import postgres_base_url

OVERLAYS = check.OVERLAYS


def _param(process: str) -> Any:
    return pytest.param(process, id=process)


# --------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rendered() -> dict[str, check.Objects]:
    """Both overlays, rendered once by `kubectl kustomize`."""
    try:
        return {overlay: check.render_overlay(overlay) for overlay in OVERLAYS}
    except check.ToolMissing as exc:
        pytest.fail(f"{exc}; these tests never skip")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return check.load_compose()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No AUXPOL_* variable from the calling shell leaks into the settings under test."""
    for name in list(os.environ):
        if name.startswith("AUXPOL_"):
            monkeypatch.delenv(name)
    return monkeypatch


def of_kind(objects: check.Objects, kind: str) -> check.Objects:
    return [o for o in objects if o["kind"] == kind]


def by_name(objects: check.Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


# --------------------------------------------------------------------- kubernetes


def test_kubectl_renders_offline() -> None:
    try:
        kubectl = check.kubectl()
    except check.ToolMissing as exc:
        pytest.fail(str(exc))
    result = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Kustomize Version: v5" in result.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates_strictly(
    rendered: dict[str, check.Objects], overlay: str
) -> None:
    objects = rendered[overlay]
    assert len(objects) > 30
    assert check.schema_problems(objects, check.kubernetes_versions()) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rule", check.K8S_CHECKS, ids=lambda f: f.__name__)
def test_manifest_rules(rendered: dict[str, check.Objects], overlay: str, rule: Any) -> None:
    assert rule(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_probe_limit_and_run_unprivileged(
    rendered: dict[str, check.Objects], overlay: str
) -> None:
    deployments = by_name(rendered[overlay], "Deployment")
    assert set(check.PROCESSES) <= set(deployments)
    for name in check.PROCESSES:
        spec = deployments[name]["spec"]["template"]["spec"]
        (server,) = spec["containers"]
        port = check.PORTS[name]
        assert server["args"] == ["serve", name, "--host", "0.0.0.0", "--port", str(port)]
        assert server["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for container in spec["containers"] + spec["initContainers"]:
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert "replicas" not in deployments[name]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_process_autoscales_and_has_a_disruption_budget(
    rendered: dict[str, check.Objects], overlay: str
) -> None:
    objects = rendered[overlay]
    hpas = by_name(objects, "HorizontalPodAutoscaler")
    pdbs = by_name(objects, "PodDisruptionBudget")
    for name in check.PROCESSES:
        assert hpas[name]["apiVersion"] == "autoscaling/v2"
        assert hpas[name]["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
    if overlay == "production":
        assert all(h["spec"]["minReplicas"] >= 2 for h in hpas.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_exposed(rendered: dict[str, check.Objects], overlay: str) -> None:
    objects = rendered[overlay]
    (ingress,) = of_kind(objects, "Ingress")
    backends = {
        p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert backends == {"gateway"}
    assert all(s["spec"]["type"] == "ClusterIP" for s in of_kind(objects, "Service"))
    if overlay == "production":
        assert ingress["spec"]["tls"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_open_known_paths(
    rendered: dict[str, check.Objects], overlay: str
) -> None:
    policies = by_name(rendered[overlay], "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # The services admit the gateway (and their documented peers) only.
    compensation_from = [
        peer for rule in policies["compensation"]["spec"]["ingress"] for peer in rule["from"]
    ]
    assert compensation_from == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}
    ]
    # Each process reaches its database through its own policy only.
    for name in check.PROCESSES:
        access = policies[f"{name}-database-access"]["spec"]
        assert access["podSelector"] == {"matchLabels": {"auxpol.io/database": name}}
        assert access["egress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migrations_are_release_jobs_and_deployments_wait_for_them(
    rendered: dict[str, check.Objects], overlay: str
) -> None:
    objects = rendered[overlay]
    release_file = check.K8S / "overlays" / overlay / "release.yaml"
    release = yaml.safe_load(release_file.read_text())["data"]["version"]
    jobs = by_name(objects, "Job")
    deployments = by_name(objects, "Deployment")
    for name in check.PROCESSES:
        job = jobs[f"auxpol-migrate-{name}-{release}"]
        (migrate,) = job["spec"]["template"]["spec"]["containers"]
        assert migrate["args"] == ["migrate", name]
        assert migrate["image"].endswith(f":{release}")
        (gate,) = deployments[name]["spec"]["template"]["spec"]["initContainers"]
        assert gate["command"][-1] == name and gate["command"][1].endswith("wait_for_schema.py")
        assert gate["image"] == migrate["image"]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/version"] == release


def test_dev_runs_one_database_per_process_reachable_by_its_process_only(
    rendered: dict[str, check.Objects],
) -> None:
    objects = rendered["dev"]
    statefulsets = by_name(objects, "StatefulSet")
    policies = by_name(objects, "NetworkPolicy")
    for name in check.PROCESSES:
        env = {
            e["name"]: e
            for e in statefulsets[f"{name}-db"]["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env["POSTGRES_DB"]["value"] == f"auxpol_{name}"
        (rule,) = policies[f"{name}-db"]["spec"]["ingress"]
        assert rule["from"] == [{"podSelector": {"matchLabels": {"auxpol.io/database": name}}}]


def test_production_has_no_database_and_reaches_one_by_address(
    rendered: dict[str, check.Objects],
) -> None:
    objects = rendered["production"]
    assert of_kind(objects, "StatefulSet") == []
    policies = by_name(objects, "NetworkPolicy")
    for name in check.PROCESSES:
        (peer,) = policies[f"{name}-database-access"]["spec"]["egress"][0]["to"]
        assert set(peer) == {"ipBlock"}


# The rules catch what they are there to catch.


def _mutated(objects: check.Objects, kind: str, name: str) -> tuple[check.Objects, dict[str, Any]]:
    copied = copy.deepcopy(objects)
    return copied, by_name(copied, kind)[name]


def test_rules_catch_broken_manifests(rendered: dict[str, check.Objects]) -> None:
    base = rendered["production"]

    objects, dep = _mutated(base, "Deployment", "roster")
    del dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert check.check_probes(objects)

    objects, dep = _mutated(base, "Deployment", "gateway")
    dep["spec"]["replicas"] = 3
    del dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert check.check_autoscaling(objects) and check.check_resources(objects)

    objects, dep = _mutated(base, "Deployment", "recruitment")
    dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0
    assert check.check_non_root(objects)

    objects = [o for o in copy.deepcopy(base) if o["kind"] != "PodDisruptionBudget"]
    assert check.check_disruption_budgets(objects)

    objects, policy = _mutated(base, "NetworkPolicy", "compensation")
    policy["spec"]["ingress"][0]["from"].append(
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    )
    assert check.check_network_policies(objects)

    objects, policy = _mutated(base, "NetworkPolicy", "roster-database-access")
    policy["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/part-of": "auxpol"}}
    assert check.check_database_access(objects)

    objects, ingress = _mutated(base, "Ingress", "gateway")
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "roster"
    assert check.check_ingress(objects)

    (roster_job,) = [
        j
        for j in of_kind(base, "Job")
        if j["metadata"]["name"].startswith("auxpol-migrate-roster-")
    ]
    objects, job = _mutated(base, "Job", roster_job["metadata"]["name"])
    job["metadata"]["name"] = "auxpol-migrate-roster"
    assert check.check_migrations(objects)

    objects, dep = _mutated(base, "Deployment", "roster")
    dep["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "AUXPOL_ROSTER_DATABSE_URL", "value": "typo"}
    )
    assert check.check_references(objects)

    objects, dep = _mutated(base, "Deployment", "roster")
    dep["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert check.schema_problems([dep], ["1.30.0"])


# --------------------------------------------------------------------- compose


def test_compose_secrets_are_required_and_listed_in_env_example(compose: dict[str, Any]) -> None:
    text = check.COMPOSE_FILE.read_text()
    refs = check.compose_references(text)
    listed = check.env_example()
    secrets_used = {name for name in refs if check.is_secret_name(name)}
    assert {
        "POSTGRES_PASSWORD",
        "AUXPOL_ADMIN_PASSWORD",
        "AUXPOL_ROSTER_CLIENT_SECRET",
        "AUXPOL_RECRUITMENT_CLIENT_SECRET",
        "AUXPOL_COMPENSATION_CLIENT_SECRET",
        "AUXPOL_GATEWAY_SIGNING_KEY_FILES",
    } | {f"POSTGRES_{n.upper()}_PASSWORD" for n in check.PROCESSES} <= secrets_used
    for name in secrets_used | {"AUXPOL_IMAGE"}:
        assert refs[name] == {":?"}, f"{name} must always be ${{{name}:?...}}"
        assert name in listed, f"{name} missing from deploy/.env.example"
    assert check.check_compose_variables(compose, text) == []


def test_compose_publishes_only_the_gateway(compose: dict[str, Any]) -> None:
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"gateway"}
    assert check.check_compose_ports(compose) == []


def test_compose_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    long_running = check.long_running(compose)
    assert set(long_running) == {"postgres", *check.PROCESSES}
    for name, svc in long_running.items():
        assert svc["healthcheck"]["test"], name
    assert check.check_compose_healthchecks(compose) == []


def test_compose_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in check.PROCESSES:
        assert services[f"migrate-{name}"]["depends_on"] == {
            "postgres": {"condition": "service_healthy"}
        }
        assert services[name]["depends_on"][f"migrate-{name}"] == {
            "condition": "service_completed_successfully"
        }
    for name in check.SERVICES:
        assert services["gateway"]["depends_on"][name] == {"condition": "service_healthy"}
    assert check.check_compose_dependencies(compose) == []


def test_compose_one_database_per_process(compose: dict[str, Any]) -> None:
    assert sorted(check.init_script_databases()) == sorted(check.PROCESSES)
    assert check.check_compose_databases(compose) == []
    assert check.check_compose_hardening(compose) == []


def test_compose_rules_catch_mistakes(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["roster"]["ports"] = ["8001:8001"]
    del broken["services"]["recruitment"]["healthcheck"]
    broken["services"]["compensation"]["depends_on"] = ["migrate-compensation"]
    broken["services"]["migrate-roster"]["environment"] = broken["services"]["gateway"][
        "environment"
    ]
    assert check.check_compose_ports(broken)
    assert check.check_compose_healthchecks(broken)
    assert check.check_compose_dependencies(broken)
    assert check.check_compose_databases(broken)
    text = check.COMPOSE_FILE.read_text().replace(
        "${AUXPOL_ADMIN_PASSWORD:?set AUXPOL_ADMIN_PASSWORD (the first admin's password)}",
        "${AUXPOL_ADMIN_PASSWORD:-changeme}",
    )
    text += "\nx-extra: ${UNLISTED_VARIABLE:?}\n"
    problems = check.check_compose_variables(yaml.safe_load(text), text)
    assert any("AUXPOL_ADMIN_PASSWORD must be required" in p for p in problems)
    assert any("UNLISTED_VARIABLE is used" in p for p in problems)


def test_compose_interpolation() -> None:
    env = {"A": "1", "E": ""}
    assert check.interpolate("${A}-${A:-x}-${E:-d}-${E-d}-${U-u}", env) == "1-1-d--u"
    with pytest.raises(KeyError):
        check.interpolate("${E:?needed}", env)


def test_init_script_is_valid_posix_sh() -> None:
    result = subprocess.run(["sh", "-n", str(check.INIT_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------- image and docs


def test_dockerfile_and_dockerignore() -> None:
    assert check.check_dockerfile(check.DOCKERFILE.read_text()) == []
    assert check.check_dockerignore(check.DOCKERIGNORE.read_text()) == []
    bad = check.DOCKERFILE.read_text().replace(
        "USER 10001:10001", "RUN apt-get install -y gcc\nUSER root"
    )
    problems = check.check_dockerfile(bad)
    assert any("gcc" in p for p in problems) and any("USER 10001" in p for p in problems)


def test_operations_guide_describes_every_variable_and_secret(
    rendered: dict[str, check.Objects],
) -> None:
    assert check.docs_problems(rendered) == []


def test_settings_variables_come_from_the_settings_classes() -> None:
    variables = check.settings_variables()
    for name in (
        "AUXPOL_PROFILE",
        "AUXPOL_ADMIN_PASSWORD",
        "AUXPOL_GATEWAY_SIGNING_KEY_FILES",
        "AUXPOL_CORS_ORIGINS",
        "AUXPOL_WEBHOOK_ALLOWED_HOSTS",
        "AUXPOL_GATEWAY_URL",
        *(f"AUXPOL_{p.upper()}_DATABASE_URL" for p in check.PROCESSES),
        *(f"AUXPOL_{s.upper()}_CLIENT_SECRET" for s in check.SERVICES),
    ):
        assert name in variables, name


# --------------------------------------------------------------------- production settings


@pytest.mark.parametrize("service", check.SERVICES)
def test_service_settings_refuse_sqlite_in_production(clean_env: Any, service: str) -> None:
    settings_cls = _settings_class(service)
    with pytest.raises(ValidationError, match="SQLite is not a production database"):
        settings_cls(profile="production", database_url="sqlite+aiosqlite:///x.db")
    with pytest.raises(ValidationError, match="SQLite"):
        settings_cls(profile="production")  # no URL: the SQLite default
    clean_env.setenv("AUXPOL_PROFILE", "production")
    clean_env.setenv(f"AUXPOL_{service.upper()}_DATABASE_URL", "sqlite+aiosqlite:///x.db")
    with pytest.raises(ValidationError, match="SQLite"):
        settings_cls()
    with pytest.raises(ValidationError, match="CLIENT_SECRET"):
        settings_cls(profile="production", database_url="postgresql+asyncpg://u:p@db/x")
    ok = settings_cls(
        profile="production",
        database_url="postgresql+asyncpg://u:p@db/x",
        client_secret="internal-secret-value",
    )
    assert ok.database_url.startswith("postgresql")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"admin_password": ""}, "AUXPOL_ADMIN_PASSWORD"),
        ({"admin_password": "auxpol-demo"}, "AUXPOL_ADMIN_PASSWORD"),
        ({"database_url": "sqlite+aiosqlite:///g.db"}, "SQLite"),
        ({"cors_origins": ["*"]}, "CORS"),
        ({"signing_key_files": []}, "SIGNING_KEY_FILES"),
    ],
)
def test_gateway_settings_refuse_unsafe_production(
    clean_env: Any, change: dict[str, Any], message: str
) -> None:
    from gateway.config import GatewaySettings

    safe: dict[str, Any] = {
        "profile": "production",
        "database_url": "postgresql+asyncpg://u:p@db/gateway",
        "admin_password": secrets.token_urlsafe(16),
        "signing_key_files": [Path("/run/secrets/jwt/jwt-1.pem")],
        "cors_origins": ["https://auxpol.example.org"],
    }
    assert GatewaySettings(**safe).profile == "production"
    with pytest.raises(ValidationError, match=message):
        GatewaySettings(**{**safe, **change})


def test_a_refused_production_setting_does_not_echo_the_secrets(clean_env: Any) -> None:
    from gateway.config import GatewaySettings

    secret = secrets.token_urlsafe(16)
    with pytest.raises(ValidationError) as refused:
        GatewaySettings(
            profile="production",
            database_url=f"postgresql+asyncpg://u:{secret}@db/gateway",
            admin_password=secret,
            cors_origins=["*"],
        )
    assert "CORS" in str(refused.value) and secret not in str(refused.value)


def _settings_class(process: str) -> Any:
    module, cls = PROCESS_DEFS[process].settings.split(":")
    return getattr(__import__(module, fromlist=[cls]), cls)


def _example_values() -> dict[str, str]:
    """The variables .env.example sets, each CHANGE-ME replaced as an operator would."""
    values = check.env_example(optional=False)
    return {k: v.replace("CHANGE-ME", secrets.token_urlsafe(16)) for k, v in values.items()}


@pytest.mark.parametrize("process", [_param(p) for p in check.PROCESSES])
def test_compose_environment_passes_the_production_profile(
    clean_env: Any, compose: dict[str, Any], process: str
) -> None:
    values = _example_values()
    for service in (process, f"migrate-{process}"):
        env = check.service_environment(compose, service, values)
        assert env["AUXPOL_PROFILE"] == "production"
        for key, value in env.items():
            clean_env.setenv(key, value)
        settings = PROCESS_DEFS[process].load_settings()
        assert settings.database_url.startswith("postgresql+asyncpg://auxpol_")


def test_compose_environment_with_the_demo_password_is_refused(
    clean_env: Any, compose: dict[str, Any]
) -> None:
    values = _example_values()
    values["AUXPOL_ADMIN_PASSWORD"] = "auxpol-demo"
    env = check.service_environment(compose, "gateway", values)
    # Given as JSON, the list setting parses today; the refusal is the admin password's.
    env["AUXPOL_GATEWAY_SIGNING_KEY_FILES"] = '["/run/secrets/jwt/jwt-1.pem"]'
    for key, value in env.items():
        clean_env.setenv(key, value)
    with pytest.raises(ValidationError, match="AUXPOL_ADMIN_PASSWORD"):
        PROCESS_DEFS["gateway"].load_settings()


@pytest.mark.parametrize("process", [_param(p) for p in check.PROCESSES])
def test_compose_environment_left_as_the_example_is_refused(
    clean_env: Any, compose: dict[str, Any], process: str
) -> None:
    """An unedited copy of .env.example (every CHANGE-ME still there) does not start."""
    values = check.env_example(optional=False)
    assert any("CHANGE-ME" in v for v in values.values())
    env = check.service_environment(compose, process, values)
    for key, value in env.items():
        clean_env.setenv(key, value)
    with pytest.raises(ValidationError, match="CHANGE-ME placeholder"):
        PROCESS_DEFS[process].load_settings()


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("process", [_param(p) for p in check.PROCESSES])
def test_kubernetes_environment_passes_the_production_profile(
    clean_env: Any, rendered: dict[str, check.Objects], overlay: str, process: str
) -> None:
    objects = rendered[overlay]
    deployment = by_name(objects, "Deployment")[process]
    configmaps = by_name(objects, "ConfigMap")
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    for source in server["envFrom"]:
        for key, value in configmaps[source["configMapRef"]["name"]]["data"].items():
            clean_env.setenv(key, value)
    for env in server["env"]:
        name = env["name"]
        value = (
            f"postgresql+asyncpg://auxpol_{process}:pw@db:5432/auxpol_{process}"
            if name.endswith("_DATABASE_URL")
            else secrets.token_urlsafe(16)
        )
        clean_env.setenv(name, env.get("value", value))
    settings = PROCESS_DEFS[process].load_settings()
    assert settings.profile == "production"


# --------------------------------------------------------------------- schema gate


def _schema_gate() -> ModuleType:
    """deploy/k8s/base/wait_for_schema.py, which the init containers run as a script."""
    name = "auxpol_deploy_wait_for_schema"
    if name not in sys.modules:
        path = check.K8S / "base" / "wait_for_schema.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_schema_gate_verdicts() -> None:
    gate = _schema_gate()
    state = gate.SchemaState
    known = frozenset({"a", "b"})
    assert state(frozenset({"b"}), known, frozenset({"b"})).verdict == gate.READY
    assert state(frozenset({"b"}), known, frozenset({"a"})).verdict == gate.BEHIND
    assert state(frozenset({"b"}), known, frozenset()).verdict == gate.BEHIND
    assert state(frozenset({"b"}), known, frozenset({"c"})).verdict == gate.AHEAD


def test_schema_gate_waits_for_the_migration(
    clean_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = _schema_gate()
    url = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
    clean_env.setenv("AUXPOL_ROSTER_DATABASE_URL", url)
    assert gate.wait("roster", timeout=0, poll=0) == 1  # nothing migrated yet
    upgrade(PROCESS_DEFS["roster"].migrations, url)
    assert gate.wait("roster", timeout=0, poll=0) == 0
    assert "schema ready" in capsys.readouterr().out
    assert gate.main(["wait_for_schema.py", "nonsense"]) == 2


def test_schema_gate_accepts_a_newer_schema(
    clean_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    gate = _schema_gate()
    path = tmp_path / "recruitment.db"
    url = f"sqlite+aiosqlite:///{path}"
    clean_env.setenv("AUXPOL_RECRUITMENT_DATABASE_URL", url)
    upgrade(PROCESS_DEFS["recruitment"].migrations, url)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version_recruitment SET version_num = 'from_the_future'")
    assert gate.wait("recruitment", timeout=0, poll=0) == 0
    assert "newer than this image" in capsys.readouterr().out


POSTGRES_URL = postgres_base_url()  # read before clean_env removes AUXPOL_* variables

if POSTGRES_URL:
    # Defined only for the PostgreSQL run (AUXPOL_TEST_DATABASE_URL), which CI always makes.

    @pytest.fixture
    def init_script_prefix() -> Iterator[str]:
        prefix = f"auxpol_t{uuid.uuid4().hex[:8]}"
        yield prefix
        statements = [f"DROP DATABASE IF EXISTS {prefix}_{n} WITH (FORCE)" for n in check.PROCESSES]
        statements += [f"DROP ROLE IF EXISTS {prefix}_{n}" for n in check.PROCESSES]
        _psql(statements)

    def _server() -> Any:
        from sqlalchemy.engine import make_url

        assert POSTGRES_URL
        return make_url(POSTGRES_URL)

    def _psql_env() -> dict[str, str]:
        url = _server()
        env = dict(os.environ)
        env.update(
            PGHOST=url.host or "127.0.0.1",
            PGPORT=str(url.port or 5432),
            PGUSER=url.username or "postgres",
            POSTGRES_USER=url.username or "postgres",
        )
        if url.password:
            env["PGPASSWORD"] = url.password
        return env

    def _psql(statements: list[str]) -> None:
        """Each statement on its own (DROP DATABASE refuses a transaction block)."""
        if shutil.which("psql") is None:
            pytest.fail("psql is not installed; it runs the PostgreSQL init script")
        subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-d", "postgres"]
            + [arg for sql in statements for arg in ("-c", sql)],
            env=_psql_env(),
            check=True,
            capture_output=True,
        )

    def test_init_script_isolates_the_databases_on_postgresql(
        clean_env: Any, init_script_prefix: str
    ) -> None:
        import asyncio

        import asyncpg

        prefix = init_script_prefix
        passwords = {n: secrets.token_urlsafe(16) for n in check.PROCESSES}
        env = _psql_env() | {"AUXPOL_DB_PREFIX": prefix}
        env |= {f"POSTGRES_{n.upper()}_PASSWORD": pw for n, pw in passwords.items()}
        if shutil.which("psql") is None:
            pytest.fail("psql is not installed; it runs the PostgreSQL init script")
        result = subprocess.run(
            ["sh", str(check.INIT_SCRIPT)], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        server = _server()
        host, port = server.host or "127.0.0.1", server.port or 5432

        async def connect(role: str, database: str) -> None:
            conn = await asyncpg.connect(
                host=host,
                port=port,
                user=f"{prefix}_{role}",
                password=passwords[role],
                database=f"{prefix}_{database}",
            )
            await conn.close()

        async def isolation() -> None:
            for name in check.PROCESSES:
                await connect(name, name)
                for other in check.PROCESSES:
                    if other != name:
                        with pytest.raises(asyncpg.InsufficientPrivilegeError):
                            await connect(name, other)

        asyncio.run(isolation())
        # Each role migrates its own database; the schema gate then lets the process serve.
        gate = _schema_gate()
        for name in ("roster", "compensation"):
            url = (
                f"postgresql+asyncpg://{prefix}_{name}:{passwords[name]}"
                f"@{host}:{port}/{prefix}_{name}"
            )
            clean_env.setenv(f"AUXPOL_{name.upper()}_DATABASE_URL", url)
            assert gate.wait(name, timeout=0, poll=0) == 1
            upgrade(PROCESS_DEFS[name].migrations, url)
            assert gate.wait(name, timeout=0, poll=0) == 0
