"""Property-based run of schemathesis over the served OpenAPI schema: no input makes the server answer 5xx.

Bounded and deterministic: a fixed number of examples per operation, derandomized, no example database.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from tests.rest_support.fixtures import sample_server  # noqa: F401
from tests.rest_support.live import LiveServer

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def served_schema(sample_server: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{sample_server.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("served_schema")


@schemathesis.check
def no_stack_trace(ctx: Any, response: Any, case: Any) -> bool | None:
    """No response body ever carries a Python traceback."""
    text = response.content.decode("utf-8", "replace") if response.content else ""
    if "Traceback (most recent call last)" in text or 'File "/' in text:
        raise AssertionError(f"stack trace in the response body: {text[:300]}")
    return None


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_server_errors(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error, no_stack_trace], timeout=60)
