"""Shared pieces of the `trustledger` command modules: --json output, errors on stderr, the opened region.

The CLI contract (DESIGN §13): exit 0 ok, 1 checked and found invalid or failed, 2 usage; `--json` prints one JSON
document on stdout and errors go to stderr, one line each. `ContractGroup` holds the parts every command shares:
`--json` anywhere on the line, and usage errors (typer's and ours) as one line, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # typer vendors click
from typer.core import TyperGroup

from ledger.errors import LedgerError
from licences.catalogue import Catalogue, Department, LicenceType
from licences.errors import UnknownDepartmentError, UnknownLicenceTypeError
from signatures.errors import SignatureError
from trustledger.region import Region, RegionError, open_region
from trustledger.settings import Settings
from verification import StatusUnprovenError


class Ctx:
    """Per-invocation options."""

    json = False


CTX = Ctx()


JSON_FLAG = "--json"


def hoist_json(args: Sequence[str]) -> list[str]:
    """`args` with every `--json` before a `--` moved to the front, where the root command reads it.

    So `trustledger licence show ID --json` means `trustledger --json licence show ID`; after `--` it is an argument.
    """
    args = list(args)
    end = args.index("--") if "--" in args else len(args)
    head = [a for a in args[:end] if a != JSON_FLAG]
    if len(head) == end:
        return args
    return [JSON_FLAG, *head, *args[end:]]


def package_version() -> str:
    """The installed `trustledger` distribution's version."""
    try:
        return version("trustledger")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


class ContractGroup(TyperGroup):
    """The root command group: `--json` accepted after the subcommand too, usage errors as one line on stderr."""

    def main(  # always exits, as click's standalone mode does
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> NoReturn:
        argv = hoist_json(sys.argv[1:] if args is None else args)
        CTX.json = bool(argv) and argv[0] == JSON_FLAG  # for errors raised before the root callback runs
        try:
            rv = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except NoArgsIsHelpError as exc:
            sys.exit(exc.exit_code)  # the help is already printed
        except ClickException as exc:
            where = f"{exc.ctx.command_path}: " if isinstance(exc, UsageError) and exc.ctx else ""
            hint = " (see --help)" if isinstance(exc, UsageError) else ""
            message = " ".join(exc.format_message().split())
            raise SystemExit(fail(f"{where}{message}{hint}", exc.exit_code).exit_code) from None
        except typer.Abort:
            raise SystemExit(fail("aborted", 1).exit_code) from None
        sys.exit(rv if isinstance(rv, int) else 0)  # an explicit Exit(code) returns its code here


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


def resolve_type(catalogue: Catalogue, text: str, option: str) -> LicenceType:
    """The licence type `option` names by code or catalogue key; exit 2 naming the option and close matches."""
    try:
        return catalogue.licence_type(text.strip())
    except UnknownLicenceTypeError as exc:
        raise fail(f"{option}: {exc}", 2) from None


def resolve_department(catalogue: Catalogue, text: str, option: str) -> Department:
    """The department `option` names by USCC or catalogue key; exit 2 naming the option and close matches."""
    try:
        return catalogue.department(text.strip())
    except UnknownDepartmentError as exc:
        raise fail(f"{option}: {exc}", 2) from None


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
