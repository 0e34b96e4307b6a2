"""The aggregated OpenAPI document: the gateway's own operations plus each
service's, fetched from the service and cached briefly. Colliding component
names that differ between services are renamed with the service's prefix."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import httpx

from gateway.policy import PolicyTable

CACHE_SECONDS = 30


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.rsplit("/", 1)[-1]
                out[key] = "#/components/schemas/" + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def merge(
    own: dict[str, Any], services: dict[str, dict[str, Any]], policy: PolicyTable
) -> dict[str, Any]:
    doc = copy.deepcopy(own)
    doc["info"]["title"] = "auxpol API"
    doc["info"]["description"] = (
        "Recruitment, roster and compensation of police auxiliary personnel. All "
        "operations go through this gateway. Errors are RFC 9457 problems with a stable "
        "`code`."
    )
    paths = doc.setdefault("paths", {})
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for service, spec in services.items():
        their = spec.get("components", {}).get("schemas", {})
        renames: dict[str, str] = {}
        for name, schema in their.items():
            if name in schemas and json.dumps(schemas[name], sort_keys=True) != json.dumps(
                _rewrite_refs(schema, {}), sort_keys=True
            ):
                renames[name] = f"{service.capitalize()}{name}"
        for name, schema in their.items():
            renamed = _rewrite_refs(schema, renames)
            if name in renames and "title" in renamed:
                # generators name their classes after the title: it must be unique too
                renamed["title"] = renames[name]
            schemas[renames.get(name, name)] = renamed
        for path, item in spec.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            item = _rewrite_refs(item, renames)
            for method, op in item.items():
                if not isinstance(op, dict):
                    continue
                rule = policy.match(method.upper(), _sample(path))
                if rule is None:
                    continue
                op.setdefault("tags", [service])
                if rule.roles is None:
                    op["security"] = []
                else:
                    op["security"] = [{"bearer": []}]
                    roles = ", ".join(sorted(rule.roles | {"system_admin"}))
                    op["description"] = (op.get("description") or "") + f"\n\nRoles: {roles}."
            paths[path] = item
    for path, item in paths.items():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            if "security" not in op:  # the gateway's own operations
                public = path in HEALTH_PATHS or op.get("x-public")
                op["security"] = [] if public else [{"bearer": []}]
            if "requestBody" in op:
                op["responses"].setdefault("413", _problem("Request body too large"))
            if path.startswith(PROXIED):
                op["responses"].setdefault("503", _problem("The service is unavailable"))
                op["responses"].setdefault("504", _problem("The service did not answer in time"))
    doc["components"].setdefault("securitySchemes", {})["bearer"] = {
        "type": "oauth2",
        "flows": {
            "password": {"tokenUrl": "/auth/token", "scopes": {}},
            "clientCredentials": {"tokenUrl": "/auth/token", "scopes": {}},
        },
    }
    return doc


HEALTH_PATHS = ("/livez", "/readyz", "/metrics")
PROXIED = ("/api/v1/roster/", "/api/v1/recruitment/", "/api/v1/compensation/")


def _problem(description: str) -> dict[str, Any]:
    """A response the gateway itself gives: its body limit, a service down or slow."""
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _sample(path: str) -> str:
    return "/".join("x" if p.startswith("{") else p for p in path.split("/"))


class OpenAPIAggregator:
    def __init__(self, client: httpx.AsyncClient, upstreams: dict[str, str], policy: PolicyTable):
        self.client = client
        self.upstreams = upstreams
        self.policy = policy
        self._cache: tuple[float, dict[str, Any], list[str]] | None = None
        self._lock = asyncio.Lock()

    async def document(self, own: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        async with self._lock:
            if self._cache and time.monotonic() - self._cache[0] < CACHE_SECONDS:
                return self._cache[1], self._cache[2]
            specs: dict[str, dict[str, Any]] = {}
            missing: list[str] = []

            async def fetch(name: str, base: str) -> None:
                try:
                    response = await self.client.get(base + "/openapi.json", timeout=5.0)
                    response.raise_for_status()
                    specs[name] = response.json()
                except (httpx.HTTPError, ValueError):
                    missing.append(name)

            await asyncio.gather(*(fetch(n, b) for n, b in self.upstreams.items()))
            ordered = {n: specs[n] for n in self.upstreams if n in specs}
            doc = merge(own, ordered, self.policy)
            if not missing:
                self._cache = (time.monotonic(), doc, missing)
            return doc, sorted(missing)
