"""Server-rendered pages (jinja2, autoescaped): mobile-first, Chinese with English, no JavaScript needed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from clock import CHINA_TIME

CHINA = CHINA_TIME
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def local_date(moment: datetime | None) -> str:
    """A date as people in the region read it (Beijing time, YYYY年MM月DD日); empty for None."""
    if moment is None:
        return ""
    return moment.astimezone(CHINA).strftime("%Y年%m月%d日")


def local_time(moment: datetime | str | None) -> str:
    """A timestamp in Beijing time, to the second."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") + " (UTC+8)"


def pretty_json(value: Any) -> str:
    """Indented JSON with Chinese kept readable (autoescaping still applies when rendered)."""
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)


templates.env.filters["local_date"] = local_date
templates.env.filters["pretty_json"] = pretty_json
templates.env.filters["local_time"] = local_time


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a page with the security headers every page carries (no scripts are allowed at all)."""
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(_SECURITY_HEADERS)
    return response
