"""Schemathesis against the live OpenAPI document of the real app (ASGI, SQLite with the sample registry):
generated requests to every operation, valid and invalid, must never get a 5xx, and every response must
match the document (status code, content type, headers, body schema)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import get_client

from api import ApiSettings, create_app
from rightsdb import Registry
from rightsdb.keys import create_key

from .apihelp import fingerprinted_sqlite, sample_registry_url

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
_STATE: dict[str, Any] = {}


# The document is read from the app at import (pytest parametrizes from it); the requests go to a second app
# on a real database (the fixture), whose document must be the same.
schema = schemathesis.openapi.from_dict(create_app(ApiSettings(db="sqlite://")).openapi())


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("schemathesis")
    url = sample_registry_url("sqlite", fingerprinted_sqlite(tmp_path_factory), root, None)
    registry = Registry(url)
    _STATE["key"] = create_key(registry, "admin")[1]
    registry.dispose()
    (root / "data").mkdir()
    app = create_app(
        ApiSettings(
            db=url,
            data_roots=str(root / "data"),
            media_dir=str(root / "media"),
            upload_dir=str(root),
            max_upload_bytes=1 << 20,
        )
    )
    assert app.openapi() == schema.raw_schema
    with get_client(app) as client:
        yield client


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_no_schema_violations(case: Any, live_app: Any) -> None:
    case.call_and_validate(
        session=live_app,
        base_url="http://testserver",
        checks=CHECKS,
        headers={"Authorization": f"Bearer {_STATE['key']}"},
    )


def test_openapi_document_is_complete() -> None:
    doc = schema.raw_schema
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            codes = set(op["responses"])
            if path.startswith("/v1/"):
                assert {"401", "403"} <= codes, where
                assert op.get("security") == [{"HTTPBearer": []}], where
            for code, response in op["responses"].items():
                if code[0] in "45":
                    assert list(response["content"]) == ["application/problem+json"], (where, code)
    schemas = doc["components"]["schemas"]
    for name in ("Clip", "FindingPage", "Job", "ScanRequest", "WorkOut", "HolderOut", "Problem", "PolicyIn"):
        assert schemas[name].get("examples"), name
