"""Fuzzing the public API with schemathesis, bounded, against the real processes.

One stack (gateway + three services, on SQLite, or on PostgreSQL when
AUXPOL_TEST_DATABASE_URL names a server; the demo dataset loaded through the gateway).
schemathesis reads the gateway's aggregated `/openapi.json`, and every request goes
through the gateway with a real token:

1. every `/api/v1/{roster,recruitment,compensation}` operation as `admin`, with all of
   schemathesis' default checks (server errors, status codes, content types, response
   schemas and headers, negative and positive data, use-after-free, resource
   availability, ignored auth, Allow headers), a fixed seed in deterministic mode and a
   bounded number of examples per operation, then a bounded stateful run;
2. schemathesis' object-level authorization check with two peers, a county-A user
   (`junan_admin`, 371327) and a county-B user (`feixian_admin`, 371325);
3. an explicit two-county sweep: every operation with a path id, aimed at one of county
   A's objects and sent as county B, answers exactly what it answers for an object that
   does not exist (404, or 403 for a role B lacks), never 2xx and never an answer that
   depends on A's object; county B's lists never hold county A's rows.

The bar is zero failures. A failure is fixed in the service (or its declared schema),
never here. The only failures dropped are schema-valid requests refused for what a JSON
Schema cannot state: a domain rule (an ID checksum, a date relative to the hire date, a
cursor this API did not issue, an Idempotency-Key reused with another body...), a
relation between fields, the places of a decimal, a bound on the string form of a
decimal or a date, or a NUL character (which PostgreSQL cannot store). They are
counted by reason and printed. Any other refusal by the request parser is a finding.

`AUXPOL_FUZZ_EXAMPLES` (default 12) bounds the examples per operation and
`AUXPOL_FUZZ_STATEFUL_STEPS` (default 5) the stateful scenarios; `make fuzz` runs more.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import StopReason, events, from_schema
from schemathesis.specs.openapi import object_authorization

from services.compensation import demo as pay_demo
from tests.stack import Stack, process_databases

pytestmark = pytest.mark.e2e

SEED = 20261122
EXAMPLES = int(os.environ.get("AUXPOL_FUZZ_EXAMPLES", "12"))
STATEFUL_STEPS = int(os.environ.get("AUXPOL_FUZZ_STATEFUL_STEPS", "5"))
SERVICE_PATHS = r"^/api/v1/(roster|recruitment|compensation)/"
COUNTY_A, USER_A = "371327", "junan_admin"
COUNTY_B, USER_B = "371325", "feixian_admin"
PASSWORD = "auxpol-demo"

# A 422 with one of these codes comes from the request parser (pydantic), which must
# accept whatever the published schema allows; any other code is a domain rule.
PARSER_CODES = frozenset({"validation_error", "unknown_field"})
# Parser errors for what a JSON Schema cannot state about a decimal (its digits and
# places) and bounds on the string form of a decimal or a date.
DECIMAL_PRECISION = frozenset({"decimal_max_digits", "decimal_max_places", "decimal_whole_digits"})
BOUNDS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
# The parser error behind each finding, for the summary (by id of the case).
PARSER_REFUSALS: dict[int, str] = {}
# Validators that check relations between values (a rule, not a type).
RELATION_ERRORS = frozenset({None, "value_error", "assertion_error"})


# Uploads are CSV or XLSX tables (in a multipart part or as the raw body): sent as bytes.
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
schemathesis.serializer.alias(XLSX, "application/octet-stream")
schemathesis.serializer.alias("text/csv", "text/plain")


# --- the stack and its users ---------------------------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with process_databases("auxpol_fuzz") as urls:
        running = Stack(
            demo=True,
            database_urls=urls,
            # Public endpoints are rate limited per client address; the fuzzer is one.
            extra_env={"AUXPOL_GATEWAY_PUBLIC_RATE_PER_MINUTE": "100000"},
        )
        try:
            running.start(timeout=240, wait_for="banner")
            assert (running.data_dir / ".demo-loaded").exists(), running.log()[-4000:]
            yield running
        finally:
            running.close()


@pytest.fixture(scope="module")
def spec(stack: Stack) -> dict[str, Any]:
    response = httpx.get(stack.url + "/openapi.json", timeout=30)
    assert response.status_code == 200 and "x-missing-services" not in response.headers
    return dict(response.json())


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    return {user: stack.token(user, PASSWORD) for user in ("admin", USER_A, USER_B)}


# --- running schemathesis --------------------------------------------------------------------


@dataclass
class Finding:
    operation: str
    check: str
    title: str
    status: int | None
    body: str
    curl: str

    def line(self) -> str:
        return f"{self.operation} | {self.check} | {self.title} | {self.status} | {self.body}"


@dataclass
class Report:
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    reruns: list[str] = field(default_factory=list)
    stop_reason: StopReason | None = None
    seconds: float = 0.0

    def summary(self, title: str) -> str:
        by_check = Counter(f.check for f in self.findings)
        lines = [
            f"{title}: {len(self.operations)} operations, {self.cases} cases, "
            f"{len(self.findings)} failures {dict(by_check)}, {len(self.errors)} errors, "
            f"{self.seconds:.0f} s, stop: {self.stop_reason}",
        ]
        if self.dropped:
            lines.append(f"  schema-valid requests refused by domain rules: {dict(self.dropped)}")
        seen: set[tuple[str, str, int | None]] = set()
        for finding in self.findings:
            key = (finding.operation, finding.check, finding.status)
            if key not in seen:
                seen.add(key)
                lines.append("  " + finding.line())
                lines.append("      " + finding.curl)
        lines += ["  error: " + e for e in self.errors]
        lines += ["  refused by the parser: " + n for n in sorted(set(self.notes))[:20]]
        lines += ["  run again after an interpreter fault: " + r for r in self.reruns]
        return "\n".join(lines)

    def assert_clean(self, title: str) -> None:
        text = self.summary(title)
        print(text)
        assert self.stop_reason == StopReason.COMPLETED, text
        assert not self.findings and not self.errors, text


def _body_of(response: Any) -> str:
    if response is None or not response.content:
        return ""
    return bytes(response.content[:400]).decode(errors="replace")


# CPython 3.11's SystemError when `ast` conversion meets the recursion limit
# (python/cpython#106905): hypothesis parses source to describe its strategies, and on
# a deep stack the interpreter raises this instead of RecursionError. It is a fault of
# the interpreter running the fuzzer, not an answer from the API: the operation is run
# again, once, and a second fault is reported like any other error.
INTERPRETER_FAULTS = ("AST constructor recursion depth mismatch",)


def _interpreter_fault(error: Exception) -> bool:
    return isinstance(error, SystemError) and any(f in str(error) for f in INTERPRETER_FAULTS)


def run(schema: Any, report: Report | None = None, *, retry_faults: bool = True) -> Report:
    report = report or Report()
    started = time.monotonic()
    faulted: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            report.operations.add(recorder.label)
            report.cases += len(recorder.cases)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    info = check.failure_info
                    if info is None:
                        continue
                    interaction = recorder.interactions.get(case_id)
                    response = interaction.response if interaction else None
                    report.findings.append(
                        Finding(
                            operation=info.failure.operation or recorder.label,
                            check=check.name,
                            title=info.failure.title,
                            status=response.status_code if response is not None else None,
                            body=_body_of(response),
                            curl=info.code_sample.replace("\n", " ")[:600],
                        )
                    )
        elif isinstance(event, events.NonFatalError):
            if retry_faults and _interpreter_fault(event.value):
                faulted.append(event.label)
                report.reruns.append(f"{event.label}: {event.value!r}")
                continue
            report.errors.append(f"{event.label}: {event.info.message}"[:600])
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = event.stop_reason
    report.seconds += time.monotonic() - started
    labels = list(dict.fromkeys(faulted))
    operations = [label.partition(" ") for label in labels]
    if any(not path.startswith("/") for _, _, path in operations):
        run(schema, report, retry_faults=False)  # a phase, not one operation: all again
    else:
        for method, _, path in operations:
            run(schema.include(method=method, path=path), report, retry_faults=False)
    return report


def base_config(stack: Stack, **extra: Any) -> dict[str, Any]:
    return {
        "seed": SEED,
        "base-url": stack.url,
        "workers": 1,
        "request-timeout": 30,
        "generation": {"deterministic": True, "max-examples": EXAMPLES},
        **extra,
    }


def load(spec: dict[str, Any], config: dict[str, Any], paths: str = SERVICE_PATHS) -> Any:
    schema = schemathesis.openapi.from_dict(spec, config=SchemathesisConfig.from_dict(config))
    return schema.include(path_regex=paths)


def drop_semantic_refusals(schema: Any, report: Report) -> None:
    """Keep every failure except a positive-data refusal for a rule JSON Schema cannot
    state; count those by problem code."""

    @schema.hook
    def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
        if "positive_data_acceptance" not in type(failure).checks:
            return True
        if response.status_code == 400 and _code(response) == "nul_character":
            report.dropped["NUL in a path or query (no database stores it)"] += 1
            return False
        if response.status_code != 422:
            return True
        reason = refusal_reason(response, case)
        if reason is None:
            note = PARSER_REFUSALS.pop(id(case), "")
            report.notes.append(f"{case.operation.label}: {note}"[:800])
            return True
        report.dropped[reason] += 1
        return False


def refusal_reason(response: Any, case: Any) -> str | None:
    """Why a schema-valid request was refused, when the schema could not have said it;
    None when the parser refused something the schema allows (a real finding)."""
    try:
        problem = response.json()
    except ValueError:
        return None
    if not isinstance(problem, dict):
        return None
    code = problem.get("code")
    if code not in PARSER_CODES:
        return str(code)  # a domain rule (a checksum, a date relative to the file...)
    # pydantic reports each member of a union it tried, the member named last in `loc`:
    # the value is refused for a reason the schema could not state if one member is
    alternatives: dict[tuple[Any, ...], list[str | None]] = {}
    for error in problem.get("errors") or [{}]:
        error = error if isinstance(error, dict) else {}
        loc = list(error.get("loc") or [])
        reason = _unstateable(error, case)
        if reason is None:
            PARSER_REFUSALS[id(case)] = f"{error} (sent {_sent_value(case, loc)!r})"
        # a `loc` that goes on past the value sent names a member of a union
        sent = _sent_value(case, loc[:-1]) if len(loc) > 1 else None
        member = isinstance(loc[-1] if loc else None, str) and not isinstance(
            sent, dict | list | type(None)
        )
        alternatives.setdefault(tuple(loc[:-1] if member else loc), []).append(reason)
    reasons = set()
    for found in alternatives.values():
        forgiven = [r for r in found if r is not None]
        if not forgiven:
            return None
        reasons.add(forgiven[0])
    return "validation_error: " + ", ".join(sorted(reasons))


def _code(response: Any) -> str | None:
    try:
        problem = response.json()
    except ValueError:
        return None
    return problem.get("code") if isinstance(problem, dict) else None


def _unstateable(error: dict[str, Any], case: Any) -> str | None:
    kind = error.get("type")
    loc = error.get("loc") or []
    if (
        len(loc) == 2
        and loc[0] == "path"
        and loc[1] in (case.path_parameters or {})
        and case.path_parameters[loc[1]] is None
    ):
        # the stateful phase follows links it infers between operations, nullable fields
        # too: a personnel file's reservation_id of null made GET /quota-reservations/None.
        # The generator never sends None for a path; no client does either
        return "a stateful link that followed a null field into the path"
    if kind == "string_unstorable":
        return "NUL or a lone surrogate in text (no database stores it)"
    if kind in RELATION_ERRORS:
        return "relation between fields"
    if kind in DECIMAL_PRECISION:
        return "decimal precision"
    if kind in BOUNDS and isinstance(_sent_value(case, error.get("loc") or []), str):
        return "bounds of a decimal or date string"
    return None


def _sent_value(case: Any, loc: list[Any]) -> Any:
    if not loc:
        return None
    where, *rest = loc
    node: Any = {"body": case.body, "query": case.query, "path": case.path_parameters}.get(where)
    for part in rest:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if found:
            node = node[part]
        elif isinstance(node, dict | list):
            return None
        # else: pydantic names the member of a union it tried ("function-before[...]")
    return node


# --- 1. every operation, every default check -------------------------------------------------


def test_fuzz_every_service_operation(stack: Stack, spec: dict[str, Any], tokens) -> None:
    config = base_config(
        stack,
        headers={"Authorization": f"Bearer {tokens['admin']}"},
        # Two peers are needed for this one; the next test runs it.
        checks={"object_level_authorization": {"enabled": False}},
        phases={
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
        },
    )
    schema = load(spec, config)
    report = Report()
    drop_semantic_refusals(schema, report)
    run(schema, report)
    wanted = {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        if path.startswith(("/api/v1/roster/", "/api/v1/recruitment/", "/api/v1/compensation/"))
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    missing = wanted - report.operations
    assert not missing, f"operations not fuzzed: {sorted(missing)}"
    report.assert_clean("fuzz as admin")


# --- 2. schemathesis' object-level authorization check, two counties -------------------------


def _wfc_auth_file(directory: Path, stack: Stack) -> Path:
    def login(user: str) -> dict[str, Any]:
        return {
            "name": user,
            "loginEndpointAuth": {
                "externalEndpointURL": stack.url + "/auth/token",
                "verb": "POST",
                "contentType": "application/x-www-form-urlencoded",
                "payloadRaw": f"grant_type=password&username={user}&password={PASSWORD}",
                "token": {
                    "extractFrom": "body",
                    "extractSelector": "/access_token",
                    "sendIn": "header",
                    "sendName": "Authorization",
                    "sendTemplate": "Bearer {token}",
                },
            },
        }

    path = directory / "auth.json"
    path.write_text(json.dumps({"auth": [login(USER_A), login(USER_B)]}))
    return path


def test_object_level_authorization_between_counties(stack: Stack, spec: dict[str, Any]) -> None:
    probes: Counter[str] = Counter()
    send_probe = object_authorization.send_probe

    def counted(ctx: Any, case: Any, probe: Any) -> Any:
        probes[str(probe.auth_identity)] += 1
        return send_probe(ctx, case, probe)

    object_authorization.send_probe = counted
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = base_config(
                stack,
                auth={
                    "wfc": {
                        "path": str(_wfc_auth_file(Path(directory), stack)),
                        "user": USER_A,
                        "peers": [USER_A, USER_B],
                    }
                },
                checks={
                    "enabled": False,
                    "object_level_authorization": {"enabled": True},
                    "not_a_server_error": {"enabled": True},
                },
                phases={
                    "examples": {"enabled": False},
                    "coverage": {"enabled": False},
                    "fuzzing": {"enabled": True, "generation": {"mode": "positive"}},
                    "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
                },
            )
            schema = load(spec, config)
            report = run(schema)
    finally:
        object_authorization.send_probe = send_probe
    print(f"object-level authorization probes sent: {dict(probes)}")
    report.assert_clean(f"object-level authorization ({USER_A} vs {USER_B})")
    assert probes[USER_B] > 0, "the check never replayed a county-A read as county B"


# --- 3. the explicit two-county sweep --------------------------------------------------------


def _items(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(path, params={"limit": 500, **params})
    assert response.status_code == 200, (path, response.status_code, response.text)
    return list(response.json()["items"])


SCHEDULE = {
    "level_pay": {"7": ["3000.00", "3150.00"], "6": ["3400.00", "3570.00"]},
    "position_pay": {"patrol": "2000.00", "clerk": "1500.00"},
    "performance_pay": {
        "excellent": "800.00",
        "competent": "500.00",
        "basically_competent": "200.00",
        "incompetent": "0.00",
        "none": "0.00",
    },
    "allowances": [{"name": "work_allowance", "amount": "350.00", "posts": None}],
    "contributions": pay_demo.CONTRIBUTIONS,
    "base_floor_ratio": "0.6",
    "base_cap_ratio": "3",
    "local_average_wage": "5000.00",
    "minimum_wage": "1980.00",
    "tax_table": None,
}


def county_a_objects(stack: Stack, tokens: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Path parameters of county A's own objects, by path template prefix, read as A
    (the demo has pay schedules for the province only: one for county A is added)."""
    with stack.client(tokens["admin"]) as admin:
        r = admin.put(f"/api/v1/compensation/schedules/{COUNTY_A}/2025-01-01", json=SCHEDULE)
        assert r.status_code in (200, 201), r.text
    with stack.client(tokens[USER_A]) as a:
        people = _items(a, "/api/v1/roster/personnel", region=COUNTY_A)
        reservations = _items(a, "/api/v1/roster/quota-reservations")
        imports = [i for i in _items(a, "/api/v1/roster/imports") if i]
        plans = _items(a, "/api/v1/recruitment/plans")
        campaigns = _items(a, "/api/v1/recruitment/campaigns")
        applications = (
            _items(a, f"/api/v1/recruitment/campaigns/{campaigns[0]['id']}/applications")
            if campaigns
            else []
        )
        runs = _items(a, "/api/v1/compensation/payroll-runs")
        schedules = _items(a, "/api/v1/compensation/schedules")
    own_schedules = [s for s in schedules if str(s["region_prefix"]).startswith(COUNTY_A)]
    found = {
        "/api/v1/roster/personnel/{id}": [{"id": p["id"]} for p in people[:2]],
        "/api/v1/roster/regions/{code}": [{"code": COUNTY_A}, {"code": COUNTY_A + "001"}],
        "/api/v1/roster/quota-reservations/{id}": [{"id": r["id"]} for r in reservations[:2]],
        "/api/v1/roster/imports/{id}": [{"id": i["id"]} for i in imports[:1]],
        "/api/v1/recruitment/plans/{id}": [{"id": p["id"]} for p in plans[:2]],
        "/api/v1/recruitment/campaigns/{id}": [{"id": c["id"]} for c in campaigns[:1]],
        "/api/v1/recruitment/applications/{id}": [
            {"id": x["id"], "oid": 1} for x in applications[:2]
        ],
        "/api/v1/compensation/payroll-runs/{id}": [{"id": r["id"]} for r in runs[:2]],
        "/api/v1/compensation/schedules/{region_prefix}/{effective_from}": [
            {"region_prefix": s["region_prefix"], "effective_from": s["effective_from"]}
            for s in own_schedules[:1]
        ],
    }
    for prefix in (
        "/api/v1/roster/personnel/{id}",
        "/api/v1/roster/quota-reservations/{id}",
        "/api/v1/recruitment/plans/{id}",
        "/api/v1/recruitment/campaigns/{id}",
        "/api/v1/recruitment/applications/{id}",
        "/api/v1/compensation/payroll-runs/{id}",
        "/api/v1/compensation/schedules/{region_prefix}/{effective_from}",
    ):
        assert found[prefix], f"the demo dataset has no county-A object for {prefix}"
    return found


ABSENT = {"id": str(2**62), "code": "371399", "region_prefix": "371399"}


def _aimed_operations(
    spec: dict[str, Any], objects: dict[str, list[dict[str, Any]]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Each operation with a path id, and the path parameters of one of county A's
    objects to aim it at."""
    aimed = {}
    for path, item in spec["paths"].items():
        if "{" not in path or not path.startswith(
            ("/api/v1/roster/", "/api/v1/recruitment/", "/api/v1/compensation/")
        ):
            continue
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if op.get("security") == []:
                continue  # public by design (published announcements)
            prefix = max((p for p in objects if path.startswith(p)), key=len, default=None)
            assert prefix is not None, f"no county-A object to aim {method.upper()} {path} at"
            if objects[prefix]:
                params = {k: v for k, v in objects[prefix][0].items() if "{" + k + "}" in path}
                aimed[(method.upper(), path)] = params
    return aimed


def test_county_b_cannot_reach_county_a_objects(stack: Stack, spec: dict[str, Any], tokens) -> None:
    """Every operation with a path id, aimed at one of county A's objects and sent as
    county B with schema-valid generated bodies and queries, answers exactly what it
    answers for an object that does not exist (same status, same problem code): 404 as
    if absent, 403 where B's role may not call it, or a refusal of the request itself.
    Never 2xx, and never an answer that depends on A's object (409, 412, a domain 422)."""
    objects = county_a_objects(stack, tokens)
    aimed = _aimed_operations(spec, objects)
    assert len(aimed) >= 40, aimed
    config = base_config(
        stack,
        headers={"Authorization": f"Bearer {tokens[USER_B]}"},
        generation={"deterministic": True, "max-examples": max(3, EXAMPLES // 3)},
        checks={"enabled": False},
        phases={
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "fuzzing": {"enabled": True, "generation": {"mode": "positive"}},
            "stateful": {"enabled": False},
        },
    )
    schema = load(spec, config)
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    leaks: list[str] = []

    @schema.hook
    def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
        operation = context.operation
        params = aimed.get((operation.method.upper(), operation.path))
        return {**path_parameters, **params} if params else path_parameters

    @schema.hook
    def after_call(context: Any, case: Any, response: Any) -> None:
        params = aimed.get((case.method.upper(), case.path))
        if params is None:
            return
        sent[case.operation.label] += 1
        statuses[response.status_code] += 1
        verdict = _compare_with_absent(response, case, params)
        if verdict:
            leaks.append(f"{case.method} {response.request.url} -> {verdict}")

    report = run(schema)
    print(f"county-B requests at county-A objects: {sum(sent.values())} over {len(sent)} ops")
    print(f"  statuses: {dict(statuses)}")
    assert report.stop_reason == StopReason.COMPLETED and not report.errors, report.summary("B")
    missed = sorted({f"{m} {p}" for m, p in aimed} - set(sent))
    assert not missed, f"operations never aimed at county A: {missed}"
    assert not leaks, "county B reached county A's objects:\n" + "\n".join(leaks[:40])


def _problem_code(status: int, body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("code") if isinstance(data, dict) else None


def _compare_with_absent(response: Any, case: Any, aimed: dict[str, Any]) -> str | None:
    status = response.status_code
    body = bytes(response.content or b"")
    if 200 <= status < 300:
        return f"{status} {body[:300]!r}"
    request = response.request
    absent_path = case.path
    for name, value in {**(case.path_parameters or {}), **aimed}.items():
        shown = ABSENT.get(name, str(value)) if name in aimed else quote(str(value), safe="")
        absent_path = absent_path.replace("{" + name + "}", shown)
    url = urlunsplit(urlsplit(str(request.url))._replace(path=absent_path))
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    replay = httpx.request(request.method, url, headers=headers, content=request.body, timeout=30)
    mine = (status, _problem_code(status, body))
    absent = (replay.status_code, _problem_code(replay.status_code, replay.content))
    if mine != absent:
        return f"{mine} but {absent} for an absent object; {body[:300]!r}"
    return None


def test_county_b_lists_hold_no_county_a_rows(stack: Stack, spec: dict[str, Any], tokens) -> None:
    """Every list as county B (no filter, and filtered on county A): never a row of A."""
    lists = [
        path
        for path, item in spec["paths"].items()
        if path.startswith(("/api/v1/roster/", "/api/v1/recruitment/", "/api/v1/compensation/"))
        and "{" not in path
        and "get" in item
        and item["get"].get("security") != []
        and "next_cursor"
        in json.dumps(item["get"]["responses"].get("200", {}))
        + json.dumps(spec["components"]["schemas"])
    ]
    checked = 0
    with stack.client(tokens[USER_B]) as b:
        for path in lists:
            op = spec["paths"][path]["get"]
            names = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
            for params in ({}, {"region": COUNTY_A} if "region" in names else None):
                if params is None:
                    continue
                response = b.get(path, params=params)
                assert response.status_code in (200, 403, 404, 422), (path, response.text)
                if response.status_code != 200 or "json" not in response.headers["content-type"]:
                    continue
                checked += 1
                rows = list(_regions_in(response.json()))
                assert not [r for r in rows if r.startswith(COUNTY_A)], (path, params, rows[:5])
    assert checked >= 10


def _regions_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("region", "region_prefix", "seat_region") and isinstance(value, str):
                yield value
            else:
                yield from _regions_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _regions_in(value)


def test_a_null_followed_into_the_path_is_not_counted_as_a_refusal() -> None:
    """The harness's own filter: only a path parameter that a link filled with null is
    forgiven; the same refusal of a value the generator sent is still a finding."""
    from types import SimpleNamespace

    error = {"loc": ["path", "id"], "msg": "Input should be a valid integer", "type": "int_parsing"}
    linked = SimpleNamespace(path_parameters={"id": None}, body=None, query=None)
    generated = SimpleNamespace(path_parameters={"id": "12"}, body=None, query=None)
    assert _unstateable(error, linked) == "a stateful link that followed a null field into the path"
    assert _unstateable(error, generated) is None
    assert _unstateable({**error, "loc": ["query", "id"]}, linked) is None
