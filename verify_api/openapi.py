"""The published OpenAPI document: every error response is documented as what it is, `application/problem+json`.

FastAPI documents its own 422 (`HTTPValidationError`) and our declared 4XX/5XX as `application/json`; the handlers
answer every one of them as an RFC 9457 problem, so the document is rewritten once to say exactly that.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from verify_api.problems import PROBLEM_MEDIA_TYPE, REGISTRY

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _is_error(status: str) -> bool:
    return status[0] in "45"


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI with error responses as problem+json and the problem types listed (cached on the app)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                # The 4XX/5XX ranges are always problems; a page route may declare a specific code as a page.
                page = "text/html" in response.get("content", {}) and status not in ("4XX", "5XX")
                if _is_error(status) and not page:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem = components.get("Problem")
    if problem is not None:
        problem["properties"]["type"]["enum"] = sorted(p.uri for p in REGISTRY.values())
    app.openapi_schema = schema
    return schema
