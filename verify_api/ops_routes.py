"""Operations: /healthz (with a database round trip) and Prometheus /metrics (operator key)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from verify_api import problems as p
from verify_api.auth import OperatorKey
from verify_api.deps import RegionDep
from verify_api.metrics import CONTENT_TYPE, Metrics
from verify_api.problems import UNAVAILABLE, ProblemError
from verify_api.schemas import AUTH, Health, problem_responses
from verify_api.store import ping

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Health,
    operation_id="getHealth",
    responses=problem_responses(p.UNAVAILABLE),
)
def healthz(region: RegionDep) -> Health:
    """Liveness and readiness: 200 when the database answers, a 503 problem when it does not."""
    try:
        ping(region.store.engine)
    except Exception as exc:  # any driver error means "not ready"; the detail names it
        raise ProblemError(UNAVAILABLE, f"database unreachable: {type(exc).__name__}") from exc
    return Health(status="ok", database="ok", region=region.config.code, origin=region.config.origin)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text exposition"},
        **problem_responses(*AUTH),
    },
    operation_id="getMetrics",
)
def metrics(request: Request, _: OperatorKey) -> Response:
    """Prometheus metrics of this worker (request counts and latency by route, log size, checkpoint age)."""
    m: Metrics = request.app.state.metrics
    return Response(m.render(), media_type=CONTENT_TYPE)
