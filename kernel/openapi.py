"""Names in the published OpenAPI documents, for the clients generated from them.

- FastAPI names a form or multipart body `Body_<operation id>`; it becomes
  `<OperationId>Form` (`Body_import_personnel` → `ImportPersonnelForm`).
- An inline enum with the same values as a named enum component (a hand-written
  response schema, the keys of a map) refers to that component instead.

Both keep names stable: they derive from operation ids and from names in the code.
"""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/"


def form_name(operation_id: str) -> str:
    return "".join(part.capitalize() for part in operation_id.split("_")) + "Form"


def name_schemas(schema: dict[str, Any]) -> None:
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    renames = {}
    for name in list(components):
        if name.startswith("Body_"):
            new = form_name(name.removeprefix("Body_"))
            if new in components:
                raise ValueError(f"{name} would be renamed to {new}, which exists")
            renames[name] = new
    for old, new in renames.items():
        body = components.pop(old)
        body["title"] = new
        components[new] = body
    if renames:
        _rewrite_refs(schema, {REF + old: REF + new for old, new in renames.items()})
    named = {
        tuple(body["enum"]): name
        for name, body in sorted(components.items())
        if isinstance(body, dict) and "enum" in body and body.get("type") == "string"
    }
    if named:
        for body in components.values():
            if isinstance(body, dict) and "enum" not in body:
                _refer_to_named_enums(body, named)
        for item in schema.get("paths", {}).values():
            _refer_to_named_enums(item, named)


def _rewrite_refs(node: Any, refs: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in refs:
            node["$ref"] = refs[ref]
        for value in node.values():
            _rewrite_refs(value, refs)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, refs)


def _refer_to_named_enums(node: Any, named: dict[tuple[Any, ...], str]) -> None:
    if isinstance(node, list):
        for index, value in enumerate(node):
            ref = _named_ref(value, named)
            if ref is not None:
                node[index] = ref
            else:
                _refer_to_named_enums(value, named)
        return
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        ref = _named_ref(value, named) if key != "enum" else None
        if ref is not None:
            node[key] = ref
        else:
            _refer_to_named_enums(value, named)


def _named_ref(value: Any, named: dict[tuple[Any, ...], str]) -> dict[str, Any] | None:
    if not isinstance(value, dict) or "enum" not in value:
        return None
    if value.get("type", "string") != "string":
        return None
    name = named.get(tuple(value["enum"]))
    if name is None:
        return None
    kept = {k: value[k] for k in ("description", "default", "examples") if k in value}
    return {"$ref": REF + name, **kept}
