"""JSON request bodies read after authentication.

FastAPI parses a declared body before it runs any dependency, so a malformed body from a caller without a
key would be answered 422 instead of 401. Routes with JSON bodies therefore declare them for OpenAPI only
(:func:`json_body_spec`) and read them with :func:`read_json` once the caller is authorized.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from .problems import ApiProblem

__all__ = ["BODY_MODELS", "json_body_spec", "read_json"]

JSON_LIMIT = 64 * 1024
M = TypeVar("M", bound=BaseModel)

#: Models named by request bodies; the app adds their schemas to the OpenAPI components.
BODY_MODELS: dict[str, type[BaseModel]] = {}


def json_body_spec(model: type[BaseModel], *, also: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body of ``model`` (plus other media types in ``also``)."""
    BODY_MODELS[model.__name__] = model
    content: dict[str, Any] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
    content.update(also or {})
    return {"requestBody": {"required": True, "content": content}}


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


async def read_json(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``: 415 when it is not JSON, 413 past 64 KiB, 422 naming the first
    bad field (all of them in ``errors``)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiProblem(
            415,
            "unsupported_media_type",
            f"send a JSON body (Content-Type: application/json), not {ctype or 'no body'}",
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > JSON_LIMIT:
            raise ApiProblem(413, "too_large", f"JSON body larger than {JSON_LIMIT // 1024} KiB")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))} for e in exc.errors()
        ]
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ApiProblem(422, "invalid", f"{first['field']}: {first['message']}{more}", errors=errors) from None
