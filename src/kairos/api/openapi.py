"""The OpenAPI document, with the (msgspec) schemas of bodies that routes validate themselves."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi


def install(app: FastAPI, body_schemas: dict[str, Any]) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        names = list(body_schemas)
        bodies, defs = msgspec.json.schema_components(
            [body_schemas[n] for n in names], ref_template="#/components/schemas/{name}"
        )
        components.update(defs)
        for name, body in zip(names, bodies, strict=True):
            if "$ref" not in body or body["$ref"].rsplit("/", 1)[-1] != name:
                components[name] = body
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
