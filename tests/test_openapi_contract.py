"""The aggregated OpenAPI document holds what api.md promises client generators: a
stable, unique `operationId` on every operation, named component schemas (no
`Body_*`, no module-path names), every enum a named schema, every 4xx declared as a
problem, constraints as JSON Schema keywords, bounded ids and pages, closed request
bodies, and exactly the operations the gateway routes.

The document is built in-process, as the gateway builds it (`gateway.openapi.merge`
over each service app's `openapi()`), so no process is started."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import GatewaySettings
from gateway.main import app_openapi, build_api
from gateway.openapi import merge
from gateway.policy import PolicyTable
from kernel.schemas import MAX_ID
from kernel.settings import ServiceSettings
from services.compensation.main import create_app as compensation_app
from services.recruitment.main import create_app as recruitment_app
from services.roster.main import create_app as roster_app

SERVICES = {"roster": roster_app, "recruitment": recruitment_app, "compensation": compensation_app}
METHODS = ("get", "put", "post", "delete", "patch")
HEALTH = ("/livez", "/readyz", "/metrics")
PROBLEM = {"$ref": "#/components/schemas/Problem"}
TOKEN_PROBLEMS = ("400", "401", "403", "404", "422", "429")
NAME = re.compile(r"^[A-Z][A-Za-z0-9]*(_[A-Z][A-Za-z0-9]*_)?$")  # Page_PlanOut_ is Page[PlanOut]


def aggregated_document(data_dir: Path) -> dict[str, Any]:
    specs = {
        name: factory(ServiceSettings(service_name=name, data_dir=data_dir)).openapi()  # type: ignore[arg-type]
        for name, factory in SERVICES.items()
    }
    gateway = build_api(GatewaySettings(data_dir=data_dir))
    return merge(app_openapi(gateway), specs, PolicyTable())


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return aggregated_document(tmp_path_factory.mktemp("openapi"))


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method, path, op


def nodes(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from nodes(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from nodes(value, f"{where}[{index}]")


def test_the_document_is_openapi_3_1_with_every_service(doc) -> None:
    assert doc["openapi"].startswith("3.1")
    prefixes = {path.split("/")[3] for path in doc["paths"] if path.startswith("/api/v1/")}
    assert {"roster", "recruitment", "compensation", "webhooks"} <= prefixes
    assert doc["components"]["securitySchemes"]["bearer"]["type"] == "oauth2"
    json.dumps(doc)  # serialisable as served


def test_every_operation_has_a_unique_operation_id(doc) -> None:
    ids = [op.get("operationId") for _, _, op in operations(doc)]
    assert all(isinstance(i, str) and re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids), ids
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert len(ids) >= 95


def test_component_schemas_have_chosen_names(doc) -> None:
    names = list(doc["components"]["schemas"])
    assert [n for n in names if n.startswith("Body_")] == []
    assert [n for n in names if not NAME.match(n)] == []  # no module-path names (a__b__C)
    # colliding names are prefixed with their service by the gateway, and stay few
    assert len([n for n in names if n.startswith(("Roster", "Recruitment", "Compensation"))]) <= 4
    # generators name classes after titles: one title, one schema
    titles = Counter(s.get("title", n) for n, s in doc["components"]["schemas"].items())
    assert [t for t, n in titles.items() if n > 1] == []


def test_every_reference_resolves(doc) -> None:
    schemas = doc["components"]["schemas"]
    refs = {node["$ref"] for _, node in nodes(doc) if isinstance(node.get("$ref"), str)}
    assert refs and all(r.startswith("#/components/schemas/") for r in refs)
    assert sorted(r for r in refs if r.rsplit("/", 1)[1] not in schemas) == []


PYDANTIC_ONLY = {"ge", "le", "gt", "lt", "max_digits", "decimal_places", "multiple_of", "strict"}


def test_constraints_are_json_schema_keywords(doc) -> None:
    """A constraint pydantic cannot place is published under its own name ("ge", "le"),
    which JSON Schema tools ignore: the bound would be invisible to clients."""
    raw = [
        f"{where} {sorted(PYDANTIC_ONLY & set(node))}"
        for where, node in nodes(doc)
        if PYDANTIC_ONLY & set(node) and not where.endswith("/properties")
    ]
    assert raw == []


def test_every_enum_is_a_named_schema(doc) -> None:
    schemas = doc["components"]["schemas"]
    inline = [
        where
        for where, node in nodes(doc)
        if "enum" in node and not re.fullmatch(r"/components/schemas/[^/]+", where)
    ]
    assert inline == []
    named = {name for name, s in schemas.items() if "enum" in s}
    assert {"PostCategory", "Education", "PlanStatus", "ApplicationStatus", "StageName"} <= named
    # each named enum is a list of strings, once
    for name in named:
        values = schemas[name]["enum"]
        assert schemas[name]["type"] == "string" and len(set(values)) == len(values), name


def test_every_operation_declares_its_problems(doc) -> None:
    missing = []
    for method, path, op in operations(doc):
        responses = op["responses"]
        if op["security"]:
            wanted: tuple[str, ...] = TOKEN_PROBLEMS
        elif path in HEALTH:
            wanted = ("422",)
        else:
            wanted = ("400", "422", "429")
        if "requestBody" in op:
            wanted += ("413",)
        missing += [f"{method.upper()} {path} {s}" for s in wanted if s not in responses]
        for status, response in responses.items():
            if path == "/auth/token" and status in ("400", "401", "429"):
                # RFC 6749: {"error": "invalid_grant"}
                oauth = response["content"]["application/json"]["schema"]
                assert oauth == {"$ref": "#/components/schemas/OAuthError"}
            elif status.startswith(("4", "5")) and not (path in HEALTH and status == "503"):
                content = response.get("content", {})
                assert content.get("application/problem+json", {}).get("schema") == PROBLEM, (
                    method,
                    path,
                    status,
                )
        assert any(s.startswith("2") for s in responses), (method, path)
    assert missing == []


def test_operations_with_a_token_say_so(doc) -> None:
    public = sorted(f"{m.upper()} {p}" for m, p, op in operations(doc) if not op["security"])
    assert public == [
        "GET /.well-known/jwks.json",
        "GET /api/v1/recruitment/public/announcements",
        "GET /api/v1/recruitment/public/announcements/{id}",
        "GET /livez",
        "GET /metrics",
        "GET /readyz",
        "POST /api/v1/recruitment/public/announcements/{id}/applications",
        "POST /auth/token",
    ]
    for _, path, op in operations(doc):
        if op["security"] and path.startswith("/api/v1/") and not path.startswith("/api/v1/web"):
            assert "Roles:" in op.get("description", ""), path


def test_ids_and_pages_are_bounded(doc) -> None:
    for method, path, op in operations(doc):
        for param in op.get("parameters", []):
            schema = param.get("schema", {})
            branches = schema.get("anyOf", [schema])
            for branch in branches:
                if branch.get("type") == "integer" and param["in"] == "path":
                    assert branch.get("minimum") == 1 and branch.get("maximum") == MAX_ID, (
                        method,
                        path,
                        param["name"],
                    )
            if param["name"] == "limit" and param["in"] == "query":
                assert schema.get("maximum") == 500 and schema.get("default") == 50, path


def test_request_bodies_are_closed(doc) -> None:
    """Unknown fields are refused (mass assignment): JSON bodies say so."""
    schemas = doc["components"]["schemas"]
    open_bodies = []
    for method, path, op in operations(doc):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        schema = body["schema"]
        schema = schema.get("items", schema)
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = schemas[name]
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
            open_bodies.append(f"{method.upper()} {path}")
    assert open_bodies == []


def test_the_document_lists_exactly_what_the_gateway_routes(doc) -> None:
    table = PolicyTable()
    documented = {
        (m.upper(), p)
        for m, p, _ in operations(doc)
        if p.startswith(("/api/v1/roster/", "/api/v1/recruitment/", "/api/v1/compensation/"))
    }
    routed = {(rule.method, rule.pattern) for rule in table.rules}
    assert documented == routed
