"""Property-based fuzzing of the API against its own OpenAPI document (schemathesis): no input yields a 5xx.

Every operation gets valid (positive) and invalid (negative) generated requests, sent with the key of a role the
access table admits so they reach the handlers; each answer must be no server error, a documented status, and a
documented content type. Kept short: a few examples per operation and mode.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.verify_api.conftest import Keys
from tests.verify_api.test_roles import TABLE

ROLE_FOR = {(a.method, a.template.replace(":path", "")): min(a.allowed - {"anonymous"} or {"anonymous"}) for a in TABLE}
EXAMPLES = 5
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@schemathesis.serializer("application/pdf")
def _pdf(_: schemathesis.SerializationContext, value: Any) -> bytes:
    """Generated PDF uploads: whatever bytes or text hypothesis made (the endpoint must cope with any)."""
    return value if isinstance(value, bytes) else str(value).encode()


def _fuzz(operation: Any, mode: GenerationMode, base: str, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base, headers=headers)
        case.validate_response(response, checks=CHECKS)

    run()


def test_no_generated_request_yields_a_server_error(live: str, keys: Keys) -> None:
    # Over real HTTP to a uvicorn thread: the app's lifespan runs once, as in production.
    schema = schemathesis.openapi.from_url(live + "/openapi.json")
    done = 0
    skipped_negative: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        role = ROLE_FOR.get((operation.method.upper(), operation.path), "anonymous")
        key = keys.of(role)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        _fuzz(operation, GenerationMode.POSITIVE, live, headers)
        try:
            _fuzz(operation, GenerationMode.NEGATIVE, live, headers)
        except Unsatisfiable:  # an operation without parameters or body has no invalid input to generate
            skipped_negative.append(operation.path)
        done += 1
    assert done >= 20  # every documented operation was fuzzed
    assert "/v1/licences" not in skipped_negative and "/v1/licences/{licence_id}/verify" not in skipped_negative
