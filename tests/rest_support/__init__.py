"""Helpers for the REST API tests: a real uvicorn server in a thread, an SSE reader, shared fixtures."""

import pytest

pytest.register_assert_rewrite("tests.rest_support.helpers")
