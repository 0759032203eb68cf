"""The FastAPI application (DESIGN §8): built by `create_app()` from the environment's region."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ledger.errors import LedgerError, ProofError
from trustledger.region import Region, open_region
from trustledger.settings import Settings
from verify_api import anchor_routes, audit_routes, licence_routes, log_routes, public_routes, trust_routes


def problem(status: int, type_: str, title: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem+json response with a stable `type`."""
    return JSONResponse(
        {"type": f"https://trustledger.example/problems/{type_}", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def create_app(region: Region | None = None) -> FastAPI:
    """The app; `region` is injected by tests, else opened from the environment."""
    owned = region is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        r = open_region(Settings()) if region is None else region
        app.state.region = r
        signer = r.checkpoint_signer()
        signer.start()
        try:
            yield
        finally:
            signer.stop()
            if owned:
                r.close()

    app = FastAPI(title="TrustLedger", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(ProofError)
    async def _proof_error(_: Request, exc: ProofError) -> JSONResponse:
        return problem(404, "not-in-log", "Not in the log", str(exc))

    @app.exception_handler(LedgerError)
    async def _ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        return problem(400, "ledger", "Ledger request cannot be served", str(exc))

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for module in (log_routes, licence_routes, public_routes, audit_routes, trust_routes, anchor_routes):
        app.include_router(module.router)
    return app
