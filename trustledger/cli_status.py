"""`trustledger status …`: the status map's proofs (DESIGN §4b), as `GET /v1/status/proof` serves them."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from licences.errors import InvalidFieldError
from licences.identifiers import parse_identifier
from trustledger.cli_common import fail, region

status_app = typer.Typer(no_args_is_help=True, help="Status map proofs: a licence version's status, provable.")


def register(app: typer.Typer) -> None:
    """Add the `status` sub-app to the root `trustledger` app."""
    app.add_typer(status_app, name="status")


@status_app.command("proof")
def status_proof(
    identifier: Annotated[str, typer.Argument(help="the full licence identifier (the token's sub)")],
    size: Annotated[int | None, typer.Option(min=1, help="size of a signed checkpoint (default: the newest)")] = None,
) -> None:
    """Print the status proof document (JSON) of IDENTIFIER: membership or non-membership, against a checkpoint.

    Check it with the log's verifier key (`trustledger log verifier-key`): the checkpoint's signature, its
    `status-map` line, and the siblings from the entry up to that root (docs/formats.md, "Status map")."""
    try:
        parse_identifier(identifier, strict=False)
    except InvalidFieldError as exc:
        raise fail(str(exc), 2) from exc
    with region() as r:
        proof = r.log.status_proof(identifier, size)  # no checkpoint of that size: exit 1 with the reason
        sys.stdout.write(json.dumps(proof.to_json(), ensure_ascii=False) + "\n")
