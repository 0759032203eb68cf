"""The service's front door: the landing page `/` and the API docs, with no request leaving the intranet.

FastAPI's own `/docs` and `/redoc` load Swagger UI and ReDoc from a CDN and stay blank where the CDN cannot be
reached (a government intranet). Here they are served from the files the `fastapi-offline` package ships (Swagger
UI 5, which renders OpenAPI 3.1, and ReDoc 2), mounted under `/docs/assets`. The landing page is a static page like
the scan page: Chinese with English, no script, the pages' CSP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from verify_api.deps import RegionDep
from verify_api.pages import render

ASSETS = "/docs/assets"
# The package's only public name is its FastAPI factory; its files sit beside it (fastapi_offline/static/).
ASSET_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"  # FastAPI's default page, kept: it is inline script, no asset
REDOC_URL = "/redoc"


def landing_page(request: Request, region: RegionDep) -> HTMLResponse:
    """What this service is and where to go: the API docs, the checkpoint, the trust list, how to check a QR code."""
    context = {"region_name": region.config.name, "public_base_url": region.public_base_url}
    return render(request, "landing.html", context)


def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the local assets."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
    )


def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect helper, as FastAPI serves it."""
    return get_swagger_ui_oauth2_redirect_html()


def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the local assets (no web fonts: they would come from Google)."""
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )


def install(app: FastAPI) -> None:
    """Add the landing page and the offline docs to `app` (built with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")
    # Top-level routes, as FastAPI adds its own docs pages; none is an API operation.
    pages: dict[str, Callable[..., HTMLResponse]] = {
        "/": landing_page,
        DOCS_URL: swagger_ui,
        OAUTH2_REDIRECT_URL: swagger_ui_oauth2_redirect,
        REDOC_URL: redoc,
    }
    for path, page in pages.items():
        app.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
