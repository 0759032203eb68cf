"""`trustledger serve`: initialise a demo region on first start, then run uvicorn on `create_app` (one app per worker
process) with the background loops of `serve` beside the checkpoint signer every app runs."""

from __future__ import annotations

import os
import sys
from uuid import UUID

import uvicorn

from clock import system_clock
from licences.errors import LicenceError
from licences.values import LicenceId
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


LOOP = "asyncio" if sys.platform == "win32" else "uvloop"  # uvloop has no Windows build (pyproject.toml)
SHOWN = ("business-licence", "driving-licence", "hygiene-licence-revoked")  # the demo licences `serve` names
LOOPBACK = "127.0.0.1"


def start_hint(region: Region, host: str, port: int, demo: dict[str, str] | None = None) -> str:
    """What `serve` prints before uvicorn starts: a few licences with their scan pages, and how to make an API key.

    A fresh home names the demo licences just made (`demo`: {demo name: licence id}); an existing one, the first two
    licences of its read model.
    """
    local = host if host not in ("0.0.0.0", "::", "") else LOOPBACK  # noqa: S104 (a wildcard bind: show loopback)
    base = f"http://{local}:{port}"
    if demo:
        views = [region.licences.get(LicenceId(UUID(i))) for name, i in demo.items() if name in SHOWN]
        lines = ["演示证照 Demo licences (open a scan page as a citizen's phone would):"]
    else:
        views = [region.licences.queries.view(row) for row in region.licence_store.first_licences(2)]
        lines = ["证照 Licences (scan pages):" if views else "No licences in this region yet."]
    lines += [f"  {v.id}  {v.type_name_zh} ({v.status.value})\n    {base}/v/{v.token}" for v in views]
    lines += [
        "API 密钥 API keys (printed once):",
        "  trustledger apikey create --role verifier --principal 演示审批系统",
        f"  trustledger apikey create --role issuer --principal {_issuer_example(region)}",
    ]
    return "\n".join(lines)


def _issuer_example(region: Region) -> str:
    """The USCC of the demo's traffic police (an issuer key names its department), or a placeholder."""
    try:
        return region.catalogue.department("zz-traffic-police").uscc
    except LicenceError:
        return "<the department's USCC, see `trustledger catalogue list`>"


def worker_count(requested: int | None, settings: Settings) -> int:
    """`--workers`, else TRUSTLEDGER_WORKERS, else one worker process per CPU (`os.cpu_count()`) on PostgreSQL and
    one on SQLite: SQLite has one writer per file, and one process batches all the writes into the fewest commits
    (docs/adr/0014-group-commit.md); several are correct but batch less and queue on the file lock."""
    if requested or settings.workers:
        return requested or settings.workers
    if settings.resolved_database_url().startswith("sqlite"):
        return 1
    return os.cpu_count() or 1


def run(host: str, port: int, workers: int | None = None) -> None:
    """Start the HTTP service; a fresh home gets a demo region so a newcomer sees something at once."""
    settings = Settings()
    processes = worker_count(workers, settings)
    clock = region_clock(settings)
    if settings.clock_start() is not None:
        # Each worker would start its own clock at TRUSTLEDGER_CLOCK_AT and they would disagree by their start-up gaps
        # (a licence issued on one could be "not yet valid" on another): fix one offset from the system clock now
        # and hand that to every worker instead.
        offset = (clock() - system_clock()).total_seconds()
        os.environ["TRUSTLEDGER_CLOCK_OFFSET_SECONDS"] = repr(offset)
        os.environ.pop("TRUSTLEDGER_CLOCK_AT", None)
    fresh = load_config(settings) is None
    region = init_region(settings, None, None, None, clock) if fresh else open_region(settings, clock)
    try:
        demo = add_demo(region) if fresh else None
        print(start_hint(region, host, port, demo), flush=True)
    finally:
        region.close()
    # uvloop's event loop and httptools' C parser instead of asyncio's loop and h11 (docs/scaling.md has the
    # measurements); uvicorn's own access log off: the app writes one JSON line per request off the request path.
    uvicorn.run(
        "trustledger.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        loop=LOOP,
        http="httptools",
        access_log=False,
        log_level="info",
        proxy_headers=False,
    )
