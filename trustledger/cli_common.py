"""Shared pieces of the `trustledger` command modules: --json output, errors on stderr, the opened region."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from ledger.errors import LedgerError
from signatures.errors import SignatureError
from trustledger.region import Region, RegionError, open_region
from trustledger.settings import Settings
from verification import StatusUnprovenError


class Ctx:
    """Per-invocation options."""

    json = False


CTX = Ctx()


def emit(value: Any, text: str | None = None) -> None:
    """Print `value` as JSON under --json, else `text` (or a readable form of value)."""
    if CTX.json:
        sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    elif text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Report an error on stderr and return the Exit to raise."""
    if CTX.json:
        sys.stderr.write(json.dumps({"error": message}, ensure_ascii=False) + "\n")
    else:
        sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


@contextmanager
def region() -> Iterator[Region]:
    """Open the configured region; domain errors become exit 1 with a message."""
    try:
        r = open_region(Settings())
    except RegionError as exc:
        raise fail(str(exc)) from exc
    try:
        yield r
    except (LedgerError, SignatureError, RegionError) as exc:
        raise fail(str(exc)) from exc
    except StatusUnprovenError as exc:  # a table contradicts the signed log: no verdict, and say so loudly
        raise fail(f"ALARM: {exc}; run `trustledger audit`") from exc
    finally:
        r.close()
