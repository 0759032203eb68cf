"""Commands: `import FILE` (existing licences, CSV or JSON lines) and `demo seed --licences N` (issue 3)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root `trustledger` app."""
