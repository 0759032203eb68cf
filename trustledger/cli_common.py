"""Shared pieces of the `trustledger` command modules: --json output, errors on stderr, the opened region.

The CLI contract (DESIGN §13): exit 0 ok, 1 checked and found invalid or failed, 2 usage; `--json` prints one JSON
document on stdout and errors go to stderr, one line each. `ContractGroup` holds the parts every command shares:
`--json` anywhere on the line, usage errors (typer's and ours) as one line, never a traceback, and subcommands that
load on first use (`LazyCommand`), so `trustledger --help` or `verify --offline` never imports the database, PDF or
HTTP stacks. This module is imported by every command: keep its own imports light (heavy ones go inside functions).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import typer
import typer.main
from typer._click import Command, Context, HelpFormatter  # typer vendors click
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperCommand, TyperGroup

from ledger.errors import LedgerError
from licences.errors import UnknownDepartmentError, UnknownLicenceTypeError
from signatures.errors import SignatureError

if TYPE_CHECKING:
    from licences.catalogue import Catalogue, Department, LicenceType
    from trustledger.region import Region
    from trustledger.settings import Settings


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
    from importlib.metadata import PackageNotFoundError, version  # lazy: scans the installed distributions

    try:
        return version("trustledger")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


@dataclass(frozen=True)
class LazyCommand:
    """A root subcommand loaded on first use: its one-line help for the root `--help`, and `register`, which imports
    the command's module (a static import inside the function) and adds its commands to the app it is handed."""

    help: str
    register: Callable[[typer.Typer], None]


@cache
def _registered(register: Callable[[typer.Typer], None]) -> Mapping[str, Command]:
    """The click commands `register` adds, built once per process (a module's commands register only once)."""
    host = typer.Typer()
    host.callback()(_no_options)  # a callback makes typer build a group even for a single command
    register(host)
    group = typer.main.get_command(host)
    assert isinstance(group, TyperGroup)
    return dict(group.commands)


def _no_options() -> None:
    """The root group's callback is the real one; this placeholder only shapes the host group."""


class ContractGroup(TyperGroup):
    """The root command group: `--json` accepted after the subcommand too, usage errors as one line on stderr, and
    the `lazy` subcommands, imported only when run (the root `--help` lists them from their static one-line help)."""

    lazy: ClassVar[Mapping[str, LazyCommand]] = {}
    _listing = False  # True while the root help is written: lazy commands show as stubs, nothing is imported

    def list_commands(self, ctx: Context) -> list[str]:
        return [*self.commands, *(name for name in self.lazy if name not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return self.commands.get(cmd_name)
        entry = self.lazy[cmd_name]
        if self._listing:
            return TyperCommand(name=cmd_name, help=entry.help)
        try:
            loaded = _registered(entry.register)
        except ModuleNotFoundError as exc:  # a command group of another part that is not in this build (yet)
            raise fail(f"`{cmd_name}` is not available in this installation: {exc}", 1) from exc
        if cmd_name not in loaded:
            raise fail(f"`{cmd_name}`: its module registered {sorted(loaded)}, not {cmd_name!r}", 1)
        return loaded[cmd_name]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

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
            if exc.format_message().strip():  # plain help (the root's) is in the error; rich help is already printed
                exc.show()
            sys.exit(exc.exit_code)
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


def open_region(settings: Settings) -> Region:
    """The region `settings` configure, opened (a seam the tests replace; the import is here so commands that open
    no region never load the storage stack)."""
    from trustledger.region import open_region as open_configured

    return open_configured(settings)


@contextmanager
def region() -> Iterator[Region]:
    """Open the configured region; domain errors become exit 1 with a message."""
    from trustledger.region import RegionError
    from trustledger.settings import Settings
    from verification import StatusUnprovenError

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
