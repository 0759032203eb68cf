"""`trustledger verify --offline` without building the typer command: the offline check is what a verifier's script
runs over and over, and typer builds a pydantic `TypeAdapter` for every parameter of the command it runs (~45 ms, as
long as the check itself).

Only a command line that is plainly well formed takes this path: `verify`, `--offline`, `--trust-list F`, at most
`--root-key K` and `--at T` (each once, `--opt V` or `--opt=V`), one token or file, and `--json` anywhere. Anything
else — `--help`, `--`, an unknown or repeated option, a missing or dash-led value, a second argument — goes to typer
unchanged, so every usage error keeps its exact message and exit code; the command itself runs the same function
(`cli_trust.verify`) either way.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

JSON_FLAG = "--json"  # the same flag `cli_common.hoist_json` hoists (not imported: that module loads typer)
VALUED = frozenset({"--trust-list", "--root-key", "--at"})


@dataclass(frozen=True)
class OfflineVerify:
    """An offline verify command line, parsed: its one target and options as typer would hand them to `verify`."""

    as_json: bool
    target: str
    trust_list: Path
    root_key: str | None
    at: str | None


def parse_offline_verify(args: Sequence[str]) -> OfflineVerify | None:
    """`args` (without the program name) as an offline verify, or None when typer must parse them."""
    if "--" in args:
        return None
    rest = [a for a in args if a != JSON_FLAG]
    if not rest or rest[0] != "verify":
        return None
    values: dict[str, str] = {}
    targets: list[str] = []
    offline = False
    tokens = iter(rest[1:])
    for token in tokens:
        if not token.startswith("-"):
            targets.append(token)
            continue
        name, eq, value = token.partition("=")
        if name == "--offline" and not eq and not offline:
            offline = True
            continue
        if name not in VALUED or name in values:
            return None
        if not eq:
            value = next(tokens, "")
        if not value or value.startswith("-"):
            return None
        values[name] = value
    if not offline or len(targets) != 1 or "--trust-list" not in values:
        return None
    return OfflineVerify(
        as_json=len(rest) != len(args),
        target=targets[0],
        trust_list=Path(values["--trust-list"]),
        root_key=values.get("--root-key"),
        at=values.get("--at"),
    )


def run_offline_verify(command: OfflineVerify) -> int:
    """Run `cli_trust.verify` as the typer command would, and return the exit code the command line gets: the same
    endings as `ContractGroup.main` around typer's own (Ctrl-C 130, end of input "aborted", a closed pipe 1)."""
    import typer
    from typer._click.exceptions import ClickException
    from typer._click.utils import PacifyFlushWrapper

    from trustledger import cli_trust
    from trustledger.cli_common import CTX, fail

    CTX.json = command.as_json
    try:
        cli_trust.verify(
            command.target, trust_list=command.trust_list, offline=True, root_key=command.root_key, at=command.at
        )
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except EOFError:
        sys.stderr.write("\n")
        return fail("aborted", 1).exit_code
    except ClickException as exc:
        return fail(" ".join(exc.format_message().split()), exc.exit_code).exit_code
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout, sys.stderr = PacifyFlushWrapper(sys.stdout), PacifyFlushWrapper(sys.stderr)
        return 1
    return 0


def main(args: Sequence[str] | None = None) -> int | None:
    """The exit code of an offline verify run here, or None when the command line is for typer."""
    command = parse_offline_verify(sys.argv[1:] if args is None else args)
    return None if command is None else run_offline_verify(command)
