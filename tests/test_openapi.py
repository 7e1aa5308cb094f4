"""The live API against its own OpenAPI document: no 5xx, no undocumented status, no schema
mismatch, for a bounded number of generated requests per operation (schemathesis)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

API_TOKEN = "api-token-for-the-schema-run"
EXAMPLES = 20  # per operation: bounded, so the run stays short
ALL_CHECKS = list(HealthCheck)


@pytest.fixture
def api_client(settings: Any) -> Any:
    configured = settings.model_copy(update={"api_token": API_TOKEN})
    from app.main import create_app

    with TestClient(create_app(configured)) as client:
        yield client


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_api_keeps_its_documented_contract(api_client: TestClient) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def conforms(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {API_TOKEN}"}, checks=CHECKS)

        conforms()
