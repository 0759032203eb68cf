"""The FastAPI application (DESIGN §8): built by `create_app()` from the environment's region.

`verify_api.app:create_app` is the uvicorn factory of `trustledger serve` (each worker builds its own app). Tests pass
a region they built; then the app neither opens nor closes it and leaves logging alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from seals.validate import MAX_PDF_BYTES
from trustledger.anchoring import AnchorWorker
from trustledger.region import Region, open_region, region_clock
from trustledger.remind import ReminderCollector, ServeReminders
from trustledger.settings import Settings
from verify_api import (
    anchor_routes,
    audit_routes,
    handlers,
    licence_routes,
    log_routes,
    ops_routes,
    public_routes,
    trust_routes,
    verify_routes,
)
from verify_api.evidence import Evidence
from verify_api.metrics import Metrics
from verify_api.middleware import RequestMiddleware, configure_logging
from verify_api.openapi import problem_openapi
from verify_api.ratelimit import RateLimiter
from verify_api.schemas import PROBLEM_RESPONSES
from verify_api.store import ApiKeyStore

PDF_UPLOAD_LIMIT = MAX_PDF_BYTES + 64 * 1024  # the PDF plus multipart framing
TAGS = [
    {"name": "licences", "description": "Issuing departments: issue, renew, amend, suspend, reinstate, revoke, PDF"},
    {"name": "verification", "description": "Approval systems: verify and record a use; check a token or a PDF"},
    {"name": "public", "description": "Citizens: the QR landing page and its JSON, rate-limited, least disclosure"},
    {"name": "audit", "description": "Auditors: a licence's history with an inclusion proof per event"},
    {"name": "log", "description": "The log read API (DESIGN §4): checkpoint, C2SP tiles, proofs, leaves"},
    {"name": "operations", "description": "Health and Prometheus metrics"},
]


def create_app(region: Region | None = None) -> FastAPI:
    """The app; `region` is injected by tests, else opened from the environment.

    Everything the app and its loops do runs on the region's clock: routes, middleware, rate limiter, caches, metrics.
    """
    owned = region is None
    if owned:
        configure_logging()
    settings = Settings() if region is None else region.settings
    clock = region_clock(settings) if region is None else region.clock
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        r = open_region(settings, clock) if region is None else region
        app.state.region = r
        app.state.api_keys = ApiKeyStore(r.store.engine)
        app.state.rate_limiter = RateLimiter(r.settings.public_rate_limit, clock=clock.monotonic)
        app.state.evidence = Evidence.of(r)
        metrics.watch_log(r.log, r.clock)
        reminder_gauges = ReminderCollector(r)  # reminders due/sent/failed/dead-lettered on /metrics
        metrics.registry.register(reminder_gauges)
        signer = r.checkpoint_signer()
        signer.start()
        reminders = ServeReminders(r) if owned else None  # the expiry reminder loop of `serve` (DESIGN §10)
        if reminders is not None:
            reminders.start()
        anchoring = AnchorWorker(r) if owned else None  # timestamp and witness checkpoints, sync peers (DESIGN §9)
        if anchoring is not None:
            anchoring.start()
        try:
            yield
        finally:
            if anchoring is not None:
                anchoring.stop()
            if reminders is not None:
                reminders.stop()
            metrics.registry.unregister(reminder_gauges)
            signer.stop()
            if owned:
                r.close()

    app = FastAPI(
        title="TrustLedger",
        version="0.1.0",
        summary="E-licence ledger: issue, verify and trace licences, each step proven against signed checkpoints",
        lifespan=lifespan,
        openapi_tags=TAGS,
    )
    app.state.metrics = metrics
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
    handlers.install(app)
    app.add_middleware(
        RequestMiddleware, metrics=metrics, body_limits={"/v1/verify/pdf": PDF_UPLOAD_LIMIT}, clock=clock.monotonic
    )

    for module in (ops_routes, log_routes, licence_routes, verify_routes, public_routes, audit_routes):
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    for module in (trust_routes, anchor_routes):
        app.include_router(module.router)
    return app
