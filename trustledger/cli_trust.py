"""Commands: trust-list export, verify TOKEN_OR_URL_OR_PDF, keys (issue 4)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root `trustledger` app."""
