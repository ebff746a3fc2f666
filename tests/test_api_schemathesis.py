"""Property-based run of schemathesis over the served OpenAPI schema: no input makes the server answer 5xx.

Bounded and deterministic: a fixed number of examples per operation and generation mode (valid and invalid
data), derandomized, no example database. Each operation is driven with its schemathesis Hypothesis strategy
(the ``schemathesis.pytest`` lazy-fixture loader does not work with pytest 9).
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.rest_support.live import LiveServer

pytest_plugins = ["tests.rest_support.fixtures"]

MAX_EXAMPLES = 25

OPERATIONS = [
    ("POST", "/v1/ask"),
    ("POST", "/v1/ask/stream"),
    ("GET", "/v1/search"),
    ("GET", "/v1/articles"),
    ("GET", "/v1/articles/{article_id}"),
    ("POST", "/v1/ingest"),
    ("GET", "/v1/ingest/{job_id}"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/v1/publications"),
    ("POST", "/v1/feedback"),
    ("POST", "/v1/uploads"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]


@pytest.fixture(scope="module")
def served_schema(sample_server: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{sample_server.base_url}/openapi.json")


@schemathesis.check
def no_stack_trace(ctx: Any, response: Any, case: Any) -> bool | None:
    """No response body ever carries a Python traceback."""
    text = response.content.decode("utf-8", "replace") if response.content else ""
    if "Traceback (most recent call last)" in text or 'File "/' in text:
        raise AssertionError(f"stack trace in the response body: {text[:300]}")
    return None


def test_every_operation_is_covered(served_schema: Any) -> None:
    served = {(op.ok().method.upper(), op.ok().path) for op in served_schema.get_all_operations()}
    assert served == set(OPERATIONS)


#: Operations without any input have no invalid data to generate.
NO_INPUT = {("POST", "/v1/ingest"), ("GET", "/v1/models"), ("GET", "/v1/publications"), ("GET", "/healthz"),
            ("GET", "/readyz")}
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or (method, path) not in NO_INPUT
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_errors(served_schema: Any, method: str, path: str, mode: GenerationMode) -> None:
    operation = served_schema[path][method]

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def run(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error, no_stack_trace], timeout=60)

    run()
