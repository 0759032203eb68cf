"""Commands: licence issue|show|history|renew|amend|suspend|reinstate|revoke|use, import, demo seed (issue 3)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root `trustledger` app."""
