"""Commands: licence pdf and seal certificates (issue 5)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root `trustledger` app."""
