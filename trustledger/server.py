"""`trustledger serve`: initialise a demo region on first start, then run uvicorn."""

from __future__ import annotations

import os

import uvicorn

from clock import system_clock
from trustledger.region import init_region, load_config, region_clock
from trustledger.settings import Settings


def run(host: str, port: int, workers: int) -> None:
    """Start the HTTP service; a fresh home gets a demo region so a newcomer sees something at once."""
    settings = Settings()
    clock = region_clock(settings)
    if settings.clock_start() is not None:
        # Each worker would start its own clock at TRUSTLEDGER_CLOCK_AT and they would disagree by their start-up gaps
        # (a licence issued on one could be "not yet valid" on another): fix one offset from the system clock now
        # and hand that to every worker instead.
        offset = (clock() - system_clock()).total_seconds()
        os.environ["TRUSTLEDGER_CLOCK_OFFSET_SECONDS"] = repr(offset)
        os.environ.pop("TRUSTLEDGER_CLOCK_AT", None)
    if load_config(settings) is None:
        region = init_region(settings, None, None, None, clock)
        try:
            from trustledger.demo import add_demo  # lazy: heavier imports, first start only

            add_demo(region)
        finally:
            region.close()
    uvicorn.run(
        "verify_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
    )
