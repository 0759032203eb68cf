"""`trustledger serve`: initialise a demo region on first start, then run uvicorn."""

from __future__ import annotations

import uvicorn

from trustledger.region import init_region, load_config
from trustledger.settings import Settings


def run(host: str, port: int, workers: int) -> None:
    """Start the HTTP service; a fresh home gets a demo region so a newcomer sees something at once."""
    settings = Settings()
    if load_config(settings) is None:
        region = init_region(settings, None, None, None)
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
