"""`make deploy-check`: validate deploy/ offline, without a container engine or a cluster.

1. Kubernetes: `kubectl kustomize` renders every overlay; kubernetes-validate checks
   every rendered object against the bundled Kubernetes schemas (strict: unknown fields
   and unknown kinds are errors); then the structural rules below (probes, resources,
   non-root, autoscalers, disruption budgets, network policies, migration Jobs, ...).
2. Compose: deploy/compose.yaml parsed with PyYAML against the rules below.
3. The image: deploy/Dockerfile and its .dockerignore.
4. The operations guide names every setting, every Compose variable and every Secret key.

Each rule is a function returning a list of problems (empty when the rule holds);
tests/test_deploy.py runs the same functions. Exit status 0 when nothing is wrong.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auxpol.processes import PROCESSES as PROCESS_DEFS
from auxpol.stack import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "production")
COMPOSE_FILE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
INIT_SCRIPT = DEPLOY / "postgres" / "init-databases.sh"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
OPERATIONS = ROOT / "docs" / "operations.md"

PROCESSES = tuple(PROCESS_DEFS)  # gateway, roster, recruitment, compensation
SERVICES = tuple(p for p in PROCESSES if p != "gateway")
PORTS = DEFAULT_PORTS
# Who may open a connection to whom (docs/architecture.md, "Who calls whom").
CALLERS = {
    "gateway": {"ingress-controller", *SERVICES},
    "roster": {"gateway", "recruitment", "compensation"},
    "recruitment": {"gateway", "compensation"},
    "compensation": {"gateway"},
}
INGRESS_NAMESPACE = "ingress-nginx"
MONITORING_NAMESPACE = "monitoring"
NON_ROOT_UID = 10001
DATABASE_LABEL = "auxpol.io/database"
# Kubernetes schemas to validate against: the oldest release we support (every API
# used is GA since 1.25) and the newest one kubernetes-validate ships.
OLDEST_KUBERNETES = "1.30.0"
# Variables the deployment sets that are not settings fields (read by wait_for_schema.py).
EXTRA_VARIABLES = {"AUXPOL_SCHEMA_WAIT_SECONDS", "AUXPOL_SCHEMA_POLL_SECONDS"}
SECRET_WORDS = ("PASSWORD", "SECRET", "KEY")

Objects = list[dict[str, Any]]
Problems = list[str]


# --------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Setting:
    variable: str
    process: str
    field: str
    default: Any


@functools.cache
def settings_variables() -> dict[str, list[Setting]]:
    """Every environment variable the four processes read, from their settings classes
    (a prefixed field is AUXPOL_<PROCESS>_<FIELD>; a shared one its unprefixed alias)."""
    from pydantic import AliasChoices

    found: dict[str, list[Setting]] = {}
    for name, proc in PROCESS_DEFS.items():
        module, cls_name = proc.settings.split(":")
        cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, info in cls.model_fields.items():
            if field_name == "service_name":  # fixed per process, never configured
                continue
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                choices = [c for c in alias.choices if isinstance(c, str)]
                variable = next((c for c in choices if c.startswith("AUXPOL_")), choices[0])
            elif isinstance(alias, str):
                variable = alias
            else:
                variable = prefix + field_name
            default = info.get_default(call_default_factory=True)
            found.setdefault(variable.upper(), []).append(
                Setting(variable.upper(), name, field_name, default)
            )
    return found


def is_secret_name(name: str) -> bool:
    return any(word in name for word in SECRET_WORDS)


# --------------------------------------------------------------------- kubernetes


class ToolMissing(RuntimeError):
    pass


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise ToolMissing(
            "kubectl is not on PATH: it renders the kustomize overlays "
            "(install kubectl >= 1.27, which bundles kustomize v5)"
        )
    return path


def render_overlay(overlay: str) -> Objects:
    """`kubectl kustomize deploy/k8s/overlays/<overlay>`, parsed."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed:\n{result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kubernetes_versions() -> tuple[str, ...]:
    from kubernetes_validate.utils import all_versions, latest_version

    shipped = all_versions()
    oldest = OLDEST_KUBERNETES.rsplit(".", 1)[0]
    if not any(v.startswith(oldest + ".") for v in shipped):
        raise RuntimeError(
            f"kubernetes-validate ships no schemas for Kubernetes {oldest}; upgrade it"
        )
    newest = latest_version()
    return (OLDEST_KUBERNETES,) if newest == OLDEST_KUBERNETES else (OLDEST_KUBERNETES, newest)


def schema_problems(objects: Objects, versions: Iterable[str]) -> Problems:
    """kubernetes-validate --strict on every object; an unknown kind is an error too."""
    import kubernetes_validate
    from kubernetes_validate.utils import (
        InvalidSchemaError,
        SchemaNotFoundError,
        ValidationError,
        VersionNotSupportedError,
    )

    problems: Problems = []
    for version in versions:
        for obj in objects:
            where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')} (k8s {version})"
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                problems.append(f"{where}: {path}: {exc.message}")
            except (SchemaNotFoundError, InvalidSchemaError, VersionNotSupportedError) as exc:
                problems.append(f"{where}: {exc.message}")
    return problems


def kind(objects: Objects, name: str) -> Objects:
    return [o for o in objects if o.get("kind") == name]


def named(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"].get("labels", {})
    return labels


def containers(workload: Mapping[str, Any], *, init: bool = True) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("containers", [])
    if init:
        yield from spec.get("initContainers", [])


def workloads(objects: Objects) -> Objects:
    return kind(objects, "Deployment") + kind(objects, "Job") + kind(objects, "StatefulSet")


def auxpol_deployments(objects: Objects) -> Objects:
    return [d for d in kind(objects, "Deployment") if named(d) in PROCESSES]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Does a LabelSelector match these labels (matchLabels and matchExpressions)?"""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def check_deployments_complete(objects: Objects) -> Problems:
    """The four processes are Deployments, each with a Service on its port."""
    problems: Problems = []
    deployments = {named(d): d for d in auxpol_deployments(objects)}
    services = {named(s): s for s in kind(objects, "Service")}
    for name in PROCESSES:
        if name not in deployments:
            problems.append(f"no Deployment {name}")
            continue
        service = services.get(name)
        if service is None:
            problems.append(f"no Service {name}")
            continue
        if not selects({"matchLabels": service["spec"]["selector"]}, pod_labels(deployments[name])):
            problems.append(f"Service {name} does not select the {name} pods")
        ports = [p["port"] for p in service["spec"]["ports"]]
        if ports != [PORTS[name]]:
            problems.append(f"Service {name} listens on {ports}, expected [{PORTS[name]}]")
    return problems


def check_probes(objects: Objects) -> Problems:
    """Liveness on GET /livez and readiness on GET /readyz, on the serving port."""
    problems: Problems = []
    for dep in auxpol_deployments(objects):
        for c in containers(dep, init=False):
            port = PORTS[named(dep)]
            # The serving port, by number or by the name the container gives it.
            serving = {port} | {p["name"] for p in c.get("ports", []) if p["containerPort"] == port}
            for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
                get = c.get(probe, {}).get("httpGet", {})
                if get.get("path") != path or get.get("port") not in serving:
                    problems.append(
                        f"Deployment {named(dep)}/{c['name']}: {probe} on "
                        f"{get.get('port')}{get.get('path')}, expected {path} on the serving port"
                    )
    return problems


def check_resources(objects: Objects) -> Problems:
    """Every container (init containers too) requests and limits CPU and memory."""
    problems: Problems = []
    for workload in workloads(objects):
        for c in containers(workload):
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(res.get(part, {}))
                if missing:
                    problems.append(
                        f"{workload['kind']} {named(workload)}/{c['name']}: "
                        f"no {part} for {', '.join(sorted(missing))}"
                    )
    return problems


def check_non_root(objects: Objects) -> Problems:
    """Pods run as a non-root user, no privilege escalation, read-only root, no caps."""
    problems: Problems = []
    for workload in workloads(objects):
        where = f"{workload['kind']} {named(workload)}"
        pod = pod_spec(workload)
        sc = pod.get("securityContext", {})
        if sc.get("runAsNonRoot") is not True or not sc.get("runAsUser"):
            problems.append(f"{where}: the pod must set runAsNonRoot and a non-zero runAsUser")
        is_auxpol = workload in auxpol_deployments(objects) or workload["kind"] == "Job"
        if is_auxpol and sc.get("runAsUser") != NON_ROOT_UID:
            problems.append(f"{where}: auxpol runs as uid {NON_ROOT_UID}")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken must be false")
        for c in containers(workload):
            csc = c.get("securityContext", {})
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}/{c['name']}: allowPrivilegeEscalation must be false")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}/{c['name']}: readOnlyRootFilesystem must be true")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}/{c['name']}: capabilities must drop ALL")
    return problems


def check_autoscaling(objects: Objects) -> Problems:
    """An autoscaling/v2 HorizontalPodAutoscaler per Deployment, which has no replicas."""
    problems: Problems = []
    hpas = {}
    for hpa in kind(objects, "HorizontalPodAutoscaler"):
        if hpa["apiVersion"] != "autoscaling/v2":
            problems.append(f"HorizontalPodAutoscaler {named(hpa)} is {hpa['apiVersion']}")
        target = hpa["spec"]["scaleTargetRef"]
        if target["kind"] == "Deployment":
            hpas[target["name"]] = hpa
    for dep in auxpol_deployments(objects):
        name = named(dep)
        hpa = hpas.get(name)
        if hpa is None:
            problems.append(f"Deployment {name} has no HorizontalPodAutoscaler")
            continue
        low, high = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        if not 1 <= low <= high:
            problems.append(f"HorizontalPodAutoscaler {name}: replicas {low}..{high}")
        if "replicas" in dep["spec"]:
            problems.append(f"Deployment {name} sets replicas; its autoscaler owns the count")
        if dep["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") != 0:
            problems.append(f"Deployment {name}: rollingUpdate.maxUnavailable must be 0")
    return problems


def check_disruption_budgets(objects: Objects) -> Problems:
    """Every Deployment's pods are covered by a PodDisruptionBudget."""
    problems: Problems = []
    pdbs = kind(objects, "PodDisruptionBudget")
    for dep in auxpol_deployments(objects):
        if not any(selects(p["spec"]["selector"], pod_labels(dep)) for p in pdbs):
            problems.append(f"Deployment {named(dep)} has no PodDisruptionBudget")
    return problems


def check_ingress(objects: Objects) -> Problems:
    """One Ingress, and it routes to the gateway only (never /metrics or /internal)."""
    problems: Problems = []
    ingresses = kind(objects, "Ingress")
    if len(ingresses) != 1:
        problems.append(f"expected one Ingress, found {len(ingresses)}")
    for ing in ingresses:
        for rule in ing["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]["name"]
                if backend != "gateway":
                    problems.append(f"Ingress {named(ing)} routes {path['path']} to {backend}")
                if path["path"] in ("/", "/metrics", "/internal", "/readyz"):
                    problems.append(f"Ingress {named(ing)} publishes {path['path']}")
    services = kind(objects, "Service")
    for svc in services:
        if svc["spec"].get("type", "ClusterIP") != "ClusterIP":
            problems.append(f"Service {named(svc)} is {svc['spec']['type']}, not ClusterIP")
    return problems


@dataclass
class Peer:
    """One `from`/`to` entry of a NetworkPolicy rule, reduced to what we reason about."""

    pods: dict[str, Any] | None = None
    namespace: str | None = None  # kubernetes.io/metadata.name, "*" for any namespace
    cidr: str | None = None


@dataclass
class Rule:
    peers: list[Peer] = field(default_factory=list)  # empty: any peer
    ports: list[tuple[int, int]] = field(default_factory=list)  # empty: any port


def _rules(policy: Mapping[str, Any], direction: str) -> list[Rule]:
    side = "from" if direction == "ingress" else "to"
    rules = []
    for raw in policy["spec"].get(direction, []) or []:
        peers = []
        for p in raw.get(side, []) or []:
            ns = p.get("namespaceSelector")
            peers.append(
                Peer(
                    pods=p.get("podSelector"),
                    namespace=None
                    if ns is None
                    else ns.get("matchLabels", {}).get("kubernetes.io/metadata.name", "*"),
                    cidr=p.get("ipBlock", {}).get("cidr"),
                )
            )
        ports = [(p["port"], p.get("endPort", p["port"])) for p in raw.get("ports", []) or []]
        rules.append(Rule(peers, ports))
    return rules


def _policies_for(objects: Objects, labels: Mapping[str, str], direction: str) -> Objects:
    wanted = "Ingress" if direction == "ingress" else "Egress"
    return [
        p
        for p in kind(objects, "NetworkPolicy")
        if wanted in p["spec"].get("policyTypes", []) and selects(p["spec"]["podSelector"], labels)
    ]


def _peer_names(peers: list[Peer], objects: Objects) -> set[str]:
    """What a rule's peers are: workload names, 'ingress-controller', 'monitoring',
    'namespace:<ns>', 'cidr:<cidr>'; 'anyone' for a rule without peers."""
    if not peers:
        return {"anyone"}
    names: set[str] = set()
    for peer in peers:
        if peer.cidr is not None:
            names.add(f"cidr:{peer.cidr}")
        elif peer.namespace == INGRESS_NAMESPACE:
            names.add("ingress-controller")
        elif peer.namespace == MONITORING_NAMESPACE:
            names.add("monitoring")
        elif peer.namespace is not None:
            names.add(f"namespace:{peer.namespace}")
        else:
            names |= {
                named(w) for w in workloads(objects) if selects(peer.pods or {}, pod_labels(w))
            }
    return names


def check_network_policies(objects: Objects) -> Problems:
    """Default deny; each process accepts connections only from its callers (and
    Prometheus), on its own port; only the gateway admits the ingress controller."""
    problems: Problems = []
    deny = [
        p
        for p in kind(objects, "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not deny:
        problems.append("no default-deny NetworkPolicy (podSelector {}, Ingress and Egress)")
    for dep in auxpol_deployments(objects):
        name, port = named(dep), PORTS[named(dep)]
        admitted: set[str] = set()
        for policy in _policies_for(objects, pod_labels(dep), "ingress"):
            for rule in _rules(policy, "ingress"):
                peers = _peer_names(rule.peers, objects)
                admitted |= peers
                extra = peers - CALLERS[name] - {"monitoring"}
                if extra:
                    problems.append(
                        f"NetworkPolicy {named(policy)} lets {sorted(extra)} reach {name}"
                    )
                if peers == {"monitoring"}:
                    ok = all(
                        lo >= min(PORTS.values()) and hi <= max(PORTS.values())
                        for lo, hi in rule.ports
                    )
                else:
                    ok = rule.ports == [(port, port)]
                if not rule.ports or not ok:
                    problems.append(
                        f"NetworkPolicy {named(policy)} opens {name} beyond its port {port}"
                    )
        # The callers must be let in, or the product does not work.
        for caller in sorted(CALLERS[name] - admitted):
            problems.append(f"{caller} cannot reach {name}: no NetworkPolicy admits it")
    return problems


def check_database_access(objects: Objects) -> Problems:
    """Only a process's own pods (server, schema gate, migration Job) reach its database,
    and they reach no other database."""
    problems: Problems = []
    for workload in kind(objects, "Deployment") + kind(objects, "Job"):
        db = pod_labels(workload).get(DATABASE_LABEL)
        if db is None:
            continue
        args = next(containers(workload, init=False)).get("args", [])
        owner = args[1] if len(args) > 1 and args[0] in ("serve", "migrate") else None
        if owner != db:
            problems.append(
                f"{workload['kind']} {named(workload)} carries {DATABASE_LABEL}={db} "
                f"but serves or migrates {owner}"
            )
    for name in PROCESSES:
        labels = {DATABASE_LABEL: name}
        reaches: set[str] = set()
        for policy in _policies_for(objects, labels, "egress"):
            for rule in _rules(policy, "egress"):
                if not rule.ports or any(lo <= 5432 <= hi for lo, hi in rule.ports):
                    reaches |= _peer_names(rule.peers, objects)
        if not reaches:
            problems.append(f"{name} cannot reach its database: no egress on 5432")
        wrong = {r for r in reaches if r != f"{name}-db" and not r.startswith("cidr:")}
        if wrong:
            problems.append(f"{name} may reach {sorted(wrong)} on 5432")
    # An in-cluster database admits the pods of its own process only.
    for server in kind(objects, "StatefulSet"):
        owner = named(server).removesuffix("-db")
        policies = _policies_for(objects, pod_labels(server), "ingress")
        if not policies:
            problems.append(f"database {named(server)} has no ingress NetworkPolicy")
        for policy in policies:
            for rule in _rules(policy, "ingress"):
                foreign = [
                    peer
                    for peer in rule.peers or [Peer(namespace="*")]
                    if peer.pods is None
                    or peer.namespace is not None
                    or peer.pods != {"matchLabels": {DATABASE_LABEL: owner}}
                ]
                if foreign:
                    problems.append(
                        f"NetworkPolicy {named(policy)} lets more than {owner}'s pods "
                        f"reach database {named(server)}"
                    )
    return problems


def check_migrations(objects: Objects) -> Problems:
    """A migration Job per database, named after the release, on the release's image;
    every Deployment waits in an init container until its schema is at head."""
    problems: Problems = []
    deployments = {named(d): d for d in auxpol_deployments(objects)}
    jobs = {}
    for job in kind(objects, "Job"):
        main = next(containers(job, init=False))
        args = main.get("args", [])
        if args[:1] == ["migrate"] and len(args) == 2:
            jobs[args[1]] = job
    for name in PROCESSES:
        job = jobs.get(name)
        dep = deployments.get(name)
        if job is None:
            problems.append(f"no migration Job runs `auxpol migrate {name}`")
            continue
        job_name = named(job)
        image = next(containers(job, init=False))["image"]
        version = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
        if not version or version == "VERSION" or not job_name.endswith("-" + version):
            problems.append(f"Job {job_name} is not named after its image's version ({image})")
        if len(job_name) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", job_name):
            problems.append(f"Job name {job_name!r} is not a valid label value")
        if pod_spec(job).get("restartPolicy") not in ("Never", "OnFailure"):
            problems.append(f"Job {job_name}: restartPolicy must be Never or OnFailure")
        if dep is None:
            continue
        images = {c["image"] for c in containers(dep)}
        if images != {image}:
            problems.append(f"Deployment {name} runs {sorted(images)}, its Job runs {image}")
        gates = [
            c
            for c in pod_spec(dep).get("initContainers", [])
            if name in (c.get("command", []) + c.get("args", []))
            and any("wait_for_schema" in str(part) for part in c.get("command", []))
        ]
        if not gates:
            problems.append(f"Deployment {name} has no wait-for-schema init container")
    return problems


def check_references(objects: Objects) -> Problems:
    """Referenced ConfigMaps are rendered; Secret keys are named after the variable they
    become; every AUXPOL_* variable set is one a process reads (a typo would otherwise
    be ignored silently, and the setting left at its default)."""
    problems: Problems = []
    known = set(settings_variables()) | EXTRA_VARIABLES
    configmaps = {named(c): c for c in kind(objects, "ConfigMap")}
    for cm in configmaps.values():
        for key in cm.get("data", {}):
            if key.startswith("AUXPOL_") and key not in known:
                problems.append(f"ConfigMap {named(cm)} sets {key}, which no process reads")
    for workload in kind(objects, "Deployment") + kind(objects, "Job"):
        where = f"{workload['kind']} {named(workload)}"
        for c in containers(workload):
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref is not None and ref not in configmaps:
                    problems.append(f"{where}/{c['name']}: ConfigMap {ref} is not rendered")
            for env in c.get("env", []):
                if env["name"].startswith("AUXPOL_") and env["name"] not in known:
                    problems.append(f"{where}/{c['name']}: {env['name']} is read by no process")
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] != env["name"]:
                    problems.append(
                        f"{where}/{c['name']}: {env['name']} comes from key {ref['key']}; "
                        "Secret keys are named after their variable"
                    )
        for volume in pod_spec(workload).get("volumes", []):
            ref = volume.get("configMap", {}).get("name")
            if ref is not None and ref not in configmaps:
                problems.append(f"{where}: volume ConfigMap {ref} is not rendered")
    return problems


def secret_keys(objects: Objects) -> set[tuple[str, str]]:
    """(Secret, key) pairs the workloads expect to exist."""
    pairs = set()
    for workload in workloads(objects):
        for c in containers(workload):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    pairs.add((ref["name"], ref["key"]))
        for volume in pod_spec(workload).get("volumes", []):
            if "secret" in volume:
                pairs.add((volume["secret"]["secretName"], "*"))
    return pairs


K8S_CHECKS: tuple[Callable[[Objects], Problems], ...] = (
    check_deployments_complete,
    check_probes,
    check_resources,
    check_non_root,
    check_autoscaling,
    check_disruption_budgets,
    check_ingress,
    check_network_policies,
    check_database_access,
    check_migrations,
    check_references,
)


# --------------------------------------------------------------------- compose

INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def env_example(path: Path = ENV_EXAMPLE, *, optional: bool = True) -> dict[str, str]:
    """NAME=value lines of .env.example. Commented-out `#NAME=value` lines are the
    optional variables: listed, but unset unless `optional`."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^(#?)\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match and (optional or not match.group(1)):
            found[match.group(2)] = match.group(3)
    return found


def without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def compose_references(text: str) -> dict[str, set[str]]:
    """Variable -> the interpolation operators it is used with ('' for plain ${VAR})."""
    refs: dict[str, set[str]] = {}
    for match in INTERPOLATION.finditer(without_comments(text)):
        refs.setdefault(match.group("name"), set()).add(match.group("op") or "")
    return refs


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op") or "", match.group("arg")
        present = name in env
        empty = not env.get(name)
        if op in (":-", "-"):
            use_default = empty if op == ":-" else not present
            return arg if use_default else env[name]
        if op in (":?", "?"):
            if empty if op == ":?" else not present:
                raise KeyError(f"{name}: {arg}")
            return env[name]
        return env.get(name, "")

    return INTERPOLATION.sub(one, value)


def auxpol_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("${AUXPOL_IMAGE")
    }


def long_running(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("restart") != "no"}


def service_environment(
    compose: Mapping[str, Any], service: str, env: Mapping[str, str]
) -> dict[str, str]:
    """A service's container environment as Compose would pass it, given the values of
    the interpolation variables (a null value passes the variable through when set)."""
    raw = compose["services"][service].get("environment", {}) or {}
    result = {}
    for key, value in raw.items():
        if value is None:
            if key in env:
                result[key] = env[key]
        else:
            result[key] = interpolate(str(value), env)
    return result


def check_compose_variables(compose: Mapping[str, Any], text: str) -> Problems:
    """Every variable is listed in .env.example (and every listed one is used); secrets
    and the image are required (${VAR:?...}) wherever they are used."""
    problems: Problems = []
    listed = env_example()
    refs = compose_references(text)
    passthrough = {
        key
        for svc in compose["services"].values()
        for key, value in (svc.get("environment") or {}).items()
        if value is None
    }
    used = set(refs) | passthrough
    for name in sorted(used - set(listed)):
        problems.append(f"{name} is used by compose.yaml but not listed in .env.example")
    for name in sorted(set(listed) - used):
        problems.append(f"{name} is listed in .env.example but compose.yaml does not use it")
    for name, ops in sorted(refs.items()):
        if (is_secret_name(name) or name == "AUXPOL_IMAGE") and ops != {":?"}:
            problems.append(f"{name} must be required everywhere: ${{{name}:?...}}")
    for name in sorted(passthrough):
        if is_secret_name(name):
            problems.append(f"{name} is a secret and must be required, not passed through")
    if re.search(r"(?<!\$)\$(?!\{|\$)[A-Za-z_]", without_comments(text)):
        problems.append("use ${VAR} (with braces) for every interpolation")
    return problems


def check_compose_ports(compose: Mapping[str, Any]) -> Problems:
    """Only the gateway publishes a port, and it is the gateway's 8000."""
    problems: Problems = []
    for name, svc in compose["services"].items():
        ports = svc.get("ports") or []
        if name != "gateway" and ports:
            problems.append(f"{name} publishes {ports}; only the gateway may")
        if svc.get("network_mode") == "host":
            problems.append(f"{name} uses the host network")
    gateway_ports = compose["services"].get("gateway", {}).get("ports") or []
    if len(gateway_ports) != 1 or not str(gateway_ports[0]).endswith(":8000"):
        problems.append(f"the gateway must publish its port 8000 once, not {gateway_ports}")
    return problems


def check_compose_healthchecks(compose: Mapping[str, Any]) -> Problems:
    """Every long-running service has a healthcheck; auxpol's probe GET /readyz."""
    problems: Problems = []
    auxpol = auxpol_services(compose)
    for name, svc in long_running(compose).items():
        check = svc.get("healthcheck") or {}
        if not check.get("test") or check.get("disable"):
            problems.append(f"{name} has no healthcheck")
            continue
        if name in auxpol:
            port = PORTS.get(name)
            if f"127.0.0.1:{port}/readyz" not in " ".join(map(str, check["test"])):
                problems.append(f"{name}'s healthcheck does not GET :{port}/readyz")
    return problems


def _depends(svc: Mapping[str, Any]) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):  # the short form has no condition
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def check_compose_dependencies(compose: Mapping[str, Any]) -> Problems:
    """Migrations wait for a healthy PostgreSQL; each process for its migration to have
    completed successfully; the gateway for healthy services."""
    problems: Problems = []
    services = compose["services"]
    for name in PROCESSES:
        migration = f"migrate-{name}"
        if migration not in services:
            problems.append(f"no one-shot migration service {migration}")
            continue
        mig = services[migration]
        if mig.get("command") != ["migrate", name] or mig.get("restart") != "no":
            problems.append(f"{migration} must run `migrate {name}` once (restart: 'no')")
        if _depends(mig).get("postgres") != "service_healthy":
            problems.append(f"{migration} must wait for postgres: service_healthy")
        if name not in services:
            problems.append(f"no service {name}")
            continue
        deps = _depends(services[name])
        if deps.get(migration) != "service_completed_successfully":
            problems.append(f"{name} must wait for {migration}: service_completed_successfully")
        if deps.get("postgres") != "service_healthy":
            problems.append(f"{name} must wait for postgres: service_healthy")
    gateway = _depends(services.get("gateway", {}))
    for name in SERVICES:
        if gateway.get(name) != "service_healthy":
            problems.append(f"the gateway must wait for {name}: service_healthy")
    for name, svc in services.items():
        for dep, condition in _depends(svc).items():
            if condition == "service_started":
                problems.append(f"{name} depends on {dep} without a condition")
    return problems


def init_script_databases(path: Path = INIT_SCRIPT) -> list[str]:
    return re.findall(r"^create_database (\w+) ", path.read_text(), flags=re.MULTILINE)


def check_compose_databases(compose: Mapping[str, Any]) -> Problems:
    """One database and one role per process, created by the init script, each process
    (and its migration) connecting to its own with its own role."""
    problems: Problems = []
    created = init_script_databases()
    if sorted(created) != sorted(PROCESSES):
        problems.append(f"the init script creates {created}, expected one per process")
    postgres = compose["services"].get("postgres", {})
    mounts = [str(v) for v in postgres.get("volumes", [])]
    if not any(
        m.startswith("./postgres/init-databases.sh:/docker-entrypoint-initdb.d/") for m in mounts
    ):
        problems.append("postgres does not mount postgres/init-databases.sh as an init script")
    if not any(m.split(":")[1] == "/var/lib/postgresql/data" for m in mounts if ":" in m):
        problems.append("postgres keeps its data in no volume")
    elif not any(
        m.split(":")[0] in (compose.get("volumes") or {}) and "/var/lib/postgresql/data" in m
        for m in mounts
    ):
        problems.append("postgres data is not a named volume")
    env = {k: f"<{k}>" for k in env_example()}
    for name in PROCESSES:
        for service in (name, f"migrate-{name}"):
            if service not in compose["services"]:
                continue
            variable = f"AUXPOL_{name.upper()}_DATABASE_URL"
            url = service_environment(compose, service, env).get(variable, "")
            expected = (
                f"auxpol_{name}:<POSTGRES_{name.upper()}_PASSWORD>@postgres:5432/auxpol_{name}"
            )
            if not url.startswith("postgresql+asyncpg://") or not url.endswith(expected):
                problems.append(f"{service}: {variable} is {url!r}, expected ...{expected}")
            others = [
                k
                for k in service_environment(compose, service, env)
                if k.endswith("_DATABASE_URL") and k != variable
            ]
            if others:
                problems.append(f"{service} is given other databases' URLs: {others}")
    for variable in (f"POSTGRES_{n.upper()}_PASSWORD" for n in PROCESSES):
        if variable not in (postgres.get("environment") or {}):
            problems.append(f"postgres does not receive {variable} for its init script")
    return problems


def check_compose_hardening(compose: Mapping[str, Any]) -> Problems:
    """auxpol containers: uid 10001, read-only root, no capabilities, no new privileges."""
    problems: Problems = []
    for name, svc in auxpol_services(compose).items():
        if str(svc.get("user", "")).split(":")[0] != str(NON_ROOT_UID):
            problems.append(f"{name} must run as user {NON_ROOT_UID}")
        if svc.get("read_only") is not True:
            problems.append(f"{name} must have a read-only root filesystem")
        if "ALL" not in (svc.get("cap_drop") or []):
            problems.append(f"{name} must drop all capabilities")
        if "no-new-privileges:true" not in (svc.get("security_opt") or []):
            problems.append(f"{name} must set no-new-privileges")
        for key in svc.get("environment") or {}:
            if key.startswith("AUXPOL_") and key not in settings_variables():
                problems.append(f"{name} sets {key}, which no process reads")
    return problems


COMPOSE_CHECKS: tuple[Callable[[Mapping[str, Any]], Problems], ...] = (
    check_compose_ports,
    check_compose_healthchecks,
    check_compose_dependencies,
    check_compose_databases,
    check_compose_hardening,
)


def compose_problems(compose: Mapping[str, Any] | None = None) -> Problems:
    text = COMPOSE_FILE.read_text()
    compose = compose if compose is not None else yaml.safe_load(text)
    problems = check_compose_variables(compose, text)
    for check in COMPOSE_CHECKS:
        problems += check(compose)
    return problems


# --------------------------------------------------------------------- image


def dockerfile_stages(text: str) -> list[tuple[str, list[str]]]:
    """(FROM line, instructions) per stage, with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[tuple[str, list[str]]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            stages.append((stripped, []))
        elif stages:
            stages[-1][1].append(stripped)
    return stages


def check_dockerfile(text: str) -> Problems:
    """Multi-stage on python:3.11-slim; dependencies installed from pyproject.toml before
    the code is copied; final stage: no compilers, non-root, starts a process by command."""
    problems: Problems = []
    stages = dockerfile_stages(text)
    if len(stages) < 2:
        return ["the Dockerfile must have a builder and a runtime stage"]
    if "PYTHON_IMAGE=python:3.11-slim" not in text:
        problems.append("the base image must be python:3.11-slim")
    builder = stages[0][1]
    copies = [i for i in builder if i.upper().startswith("COPY ")]
    if not copies or copies[0].split()[1:] != ["pyproject.toml", "./"]:
        problems.append("the builder must copy pyproject.toml alone first")
    first_code = next(
        (n for n, i in enumerate(builder) if i.startswith("COPY ") and "pyproject" not in i), None
    )
    deps = next((n for n, i in enumerate(builder) if "pip install -r" in i), None)
    if deps is None or first_code is None or deps > first_code:
        problems.append("dependencies must be installed before the code is copied")
    if not any("--no-deps" in i for i in builder[first_code or 0 :]):
        problems.append("the code must be installed without dependencies (--no-deps)")
    final_from, final = stages[-1]
    final_text = "\n".join(final)
    for tool in ("build-essential", "gcc", "g++", "make ", "clang"):
        if tool in final_text:
            problems.append(f"the runtime stage installs {tool.strip()}")
    if not any(i.startswith("COPY --from=builder /opt/venv") for i in final):
        problems.append("the runtime stage must copy the virtual environment from the builder")
    users = [i for i in final if i.upper().startswith("USER ")]
    if not users or users[-1].split()[1].split(":")[0] != str(NON_ROOT_UID):
        problems.append(f"the runtime stage must switch to USER {NON_ROOT_UID}")
    if 'ENTRYPOINT ["auxpol"]' not in final:
        problems.append('ENTRYPOINT must be ["auxpol"]')
    if 'CMD ["serve", "gateway", "--host", "0.0.0.0"]' not in final:
        problems.append('CMD must be ["serve", "gateway", "--host", "0.0.0.0"]')
    if "runtime" not in final_from:
        problems.append("name the last stage `runtime`")
    return problems


def check_dockerignore(text: str) -> Problems:
    """The build context holds pyproject.toml and the four packages, without tests."""
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    problems: Problems = []
    if lines[:1] != ["*"]:
        problems.append(".dockerignore must start from nothing (`*`) and re-include")
    for needed in ("!pyproject.toml", "!auxpol/", "!kernel/", "!gateway/", "!services/"):
        if needed not in lines:
            problems.append(f".dockerignore must re-include {needed[1:]}")
    if "**/tests/" not in lines:
        problems.append(".dockerignore must leave the tests out")
    return problems


# --------------------------------------------------------------------- docs


def mentioned(variable: str, text: str) -> bool:
    """Literally, or as AUXPOL_<PROCESS>_X / AUXPOL_<SERVICE>_X."""
    if variable in text:
        return True
    for name in PROCESSES:
        prefix = f"AUXPOL_{name.upper()}_"
        if variable.startswith(prefix):
            rest = variable[len(prefix) :]
            forms = [f"AUXPOL_<PROCESS>_{rest}"]
            if name in SERVICES:
                forms.append(f"AUXPOL_<SERVICE>_{rest}")
            return any(form in text for form in forms)
    return False


def docs_problems(rendered: Mapping[str, Objects] | None = None) -> Problems:
    """docs/operations.md names every setting, Compose variable and Secret key."""
    if not OPERATIONS.exists():
        return [f"{OPERATIONS.relative_to(ROOT)} is missing"]
    text = OPERATIONS.read_text()
    problems: Problems = []
    for variable in sorted(settings_variables()):
        if not mentioned(variable, text):
            problems.append(f"docs/operations.md does not describe {variable}")
    for variable in sorted(env_example()):
        if variable not in text:
            problems.append(f"docs/operations.md does not describe {variable} (.env.example)")
    for objects in (rendered or {}).values():
        for secret, key in sorted(secret_keys(objects)):
            if secret not in text or (key != "*" and key not in text):
                problems.append(f"docs/operations.md does not describe Secret {secret} {key}")
    if "bench/RESULTS.md" not in text:
        problems.append("docs/operations.md must point to bench/RESULTS.md for throughput")
    return problems


# --------------------------------------------------------------------- main


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: Problems = field(default_factory=list)

    def section(self, title: str, problems: Problems, ok: str) -> None:
        mark = "ok  " if not problems else "FAIL"
        self.lines.append(
            f"  [{mark}] {title}: {ok if not problems else f'{len(problems)} problem(s)'}"
        )
        self.lines.extend(f"         - {p}" for p in problems)
        self.problems.extend(f"{title}: {p}" for p in problems)


def run() -> Report:
    report = Report()
    rendered: dict[str, Objects] = {}
    try:
        versions = kubernetes_versions()
    except Exception as exc:
        report.section("kubernetes-validate", [str(exc)], "")
        versions = ()
    for overlay in OVERLAYS:
        try:
            objects = render_overlay(overlay)
        except (ToolMissing, RuntimeError, subprocess.TimeoutExpired) as exc:
            report.section(f"kustomize {overlay}", [str(exc)], "")
            continue
        rendered[overlay] = objects
        report.section(f"kustomize {overlay}", [], f"{len(objects)} objects rendered")
        if versions:
            report.section(
                f"validate {overlay}",
                schema_problems(objects, versions),
                f"every object valid (strict) against Kubernetes {', '.join(versions)}",
            )
        for check in K8S_CHECKS:
            report.section(
                f"{overlay} {check.__name__.removeprefix('check_')}", check(objects), "ok"
            )
    text = COMPOSE_FILE.read_text()
    compose = yaml.safe_load(text)
    report.section(
        "compose variables",
        check_compose_variables(compose, text),
        f"{len(env_example())} listed in .env.example",
    )
    for compose_check in COMPOSE_CHECKS:
        report.section(
            f"compose {compose_check.__name__.removeprefix('check_compose_')}",
            compose_check(compose),
            "ok",
        )
    report.section("Dockerfile", check_dockerfile(DOCKERFILE.read_text()), "ok")
    report.section(".dockerignore", check_dockerignore(DOCKERIGNORE.read_text()), "ok")
    report.section(
        "docs/operations.md", docs_problems(rendered), "names every variable and Secret key"
    )
    return report


def main() -> int:
    print("deploy-check: validating deploy/ offline")
    report = run()
    print("\n".join(report.lines))
    if report.problems:
        print(f"deploy-check FAILED: {len(report.problems)} problem(s)")
        return 1
    print("deploy-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
