"""`trustledger serve`: initialise a demo region on first start, then run uvicorn on `create_app` (one app per worker
process) with the background loops of `serve` beside the checkpoint signer every app runs."""

from __future__ import annotations

import os

import uvicorn

from clock import system_clock
from trustledger.anchoring import AnchorWorker
from trustledger.demo import add_demo
from trustledger.periodic import PeriodicWorker
from trustledger.region import Region, init_region, load_config, open_region, region_clock
from trustledger.remind import ServeReminders
from trustledger.settings import Settings
from verify_api import app as api
from verify_api.services import OwnedRegion


def serve_workers(region: Region) -> list[PeriodicWorker]:
    """The loops of `serve` (not started): the expiry reminders (DESIGN §10; unless turned off) and the anchoring
    rounds that timestamp and witness checkpoints and sync the peers (DESIGN §9)."""
    reminders = ServeReminders(region).periodic
    return [*([] if reminders is None else [reminders]), AnchorWorker(region).periodic]


def create_app() -> api.ApiApp:
    """The uvicorn factory of `serve`: the API on the environment's region, with the loops of `serve`.

    The app opens the region when it starts (on the clock fixed here) and closes it when it stops; a `Region` is what
    it is handed, so mypy checks here that `Region` satisfies `verify_api.services.RegionServices`."""
    settings = Settings()
    clock = region_clock(settings)
    region: OwnedRegion[Region] = OwnedRegion(clock, lambda: open_region(settings, clock))
    return api.create_app(region, workers=serve_workers)


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
            add_demo(region)
        finally:
            region.close()
    uvicorn.run(
        "trustledger.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
    )
