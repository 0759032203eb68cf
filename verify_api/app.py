"""The FastAPI application (DESIGN §8): built by `create_app()` around the region services it is handed.

`trustledger.server:create_app` is the uvicorn factory of `trustledger serve` (each worker builds its own app): it
hands in an `OwnedRegion` (the app opens it at startup and closes it at shutdown, and configures logging) and the
background workers of `serve` (expiry reminders, anchoring). Tests pass a region they opened; then the app neither
opens nor closes it and leaves logging alone. Every app runs the region's checkpoint signer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeAlias

from fastapi import FastAPI

from seals.validate import MAX_PDF_BYTES
from verify_api import (
    anchor_routes,
    audit_routes,
    catalogue_routes,
    handlers,
    landing_routes,
    licence_routes,
    log_routes,
    matter_routes,
    ops_routes,
    public_routes,
    ratelimit,
    status_routes,
    trust_routes,
    verify_routes,
)
from verify_api.evidence import Evidence
from verify_api.metrics import Metrics
from verify_api.middleware import RequestMiddleware, configure_logging
from verify_api.openapi import problem_openapi
from verify_api.reads import ReadsCollector
from verify_api.schemas import PROBLEM_RESPONSES
from verify_api.services import OwnedRegion, S, Worker
from verify_api.store import ApiKeyStore

ApiApp: TypeAlias = FastAPI  # what `create_app` returns, named for callers that must not import FastAPI
PDF_UPLOAD_LIMIT = MAX_PDF_BYTES + 64 * 1024  # the PDF plus multipart framing
TAGS = [
    {"name": "licences", "description": "Issuing departments: issue, renew, amend, suspend, reinstate, revoke, PDF"},
    {"name": "verification", "description": "Approval systems: verify and record a use; check a token or a PDF"},
    {"name": "public", "description": "Citizens: the QR landing page and its JSON, rate-limited, least disclosure"},
    {"name": "audit", "description": "Auditors: a licence's history with an inclusion proof per event"},
    {"name": "log", "description": "The log read API (DESIGN §4): checkpoint, C2SP tiles, proofs, leaves"},
    {"name": "operations", "description": "Health and Prometheus metrics"},
]


__all__ = ["OwnedRegion", "Worker", "create_app"]


def create_app(region: S | OwnedRegion[S], *, workers: Callable[[S], Sequence[Worker]] | None = None) -> FastAPI:
    """The app on `region`: one a test opened, or an `OwnedRegion` the app opens and closes itself (`serve`).
    `workers` builds the background loops to run beside the checkpoint signer (`serve` passes its reminders and
    anchoring).

    Everything the app and its loops do runs on the region's clock: routes, middleware, rate limiter, caches, metrics.
    """
    owned = isinstance(region, OwnedRegion)
    if owned:
        configure_logging()
    clock = region.clock
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        r = region.open() if isinstance(region, OwnedRegion) else region
        app.state.region = r
        app.state.api_keys = ApiKeyStore(r.store.engine)
        app.state.rate_limiter = ratelimit.RateLimiter(r.settings.public_rate_limit, clock=clock.monotonic)
        app.state.evidence = Evidence.of(r)
        metrics.watch_log(r.log, r.clock)
        reminder_gauges = r.reminder_collector()  # reminders due/sent/failed/dead-lettered on /metrics
        metrics.registry.register(reminder_gauges)
        read_gauges = ReadsCollector(r.reads)  # where log reads ran, and the read replica's lag (ADR 0015)
        metrics.registry.register(read_gauges)
        loops: list[Worker] = [r.checkpoint_worker(), *(workers(r) if workers is not None else ())]
        metrics.watch_workers(loops)
        for loop in loops:
            loop.start()
        try:
            yield
        finally:
            for loop in reversed(loops):
                loop.stop()
            metrics.registry.unregister(reminder_gauges)
            metrics.registry.unregister(read_gauges)
            if owned:
                r.close()

    app = FastAPI(
        title="TrustLedger",
        version="0.1.0",
        summary="E-licence ledger: issue, verify and trace licences, each step proven against signed checkpoints",
        lifespan=lifespan,
        openapi_tags=TAGS,
        docs_url=None,  # landing_routes serves /docs and /redoc from local files, not a CDN
        redoc_url=None,
    )
    app.state.metrics = metrics
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
    handlers.install(app)
    ratelimit.install(app)  # a page's 429 is a page (its error's handler wins over ProblemError's)
    app.add_middleware(
        RequestMiddleware, metrics=metrics, body_limits={"/v1/verify/pdf": PDF_UPLOAD_LIMIT}, clock=clock.monotonic
    )

    for module in (ops_routes, log_routes, licence_routes, verify_routes, public_routes, status_routes, audit_routes):
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    app.include_router(matter_routes.router, responses=PROBLEM_RESPONSES)
    for module in (trust_routes, anchor_routes, catalogue_routes):
        app.include_router(module.router)
    landing_routes.install(app)
    return app
