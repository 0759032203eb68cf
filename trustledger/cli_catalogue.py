"""Commands: `catalogue list|show` — the licence catalogue (证照目录) as published on the region's ledger.

`show TYPE` takes a type code (`11100000000013338W001`) or its catalogue key (`business-licence`); an unknown one is a
usage error (exit 2) naming close matches. Both print the documents of `licences.catalogue.describe`, the same ones
`GET /v1/catalogue` serves.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from licences.catalogue import type_json, type_summary_json
from trustledger.cli_common import emit, region, resolve_type

catalogue_app = typer.Typer(no_args_is_help=True, help="The licence catalogue: types, their fields, departments.")


def register(app: typer.Typer) -> None:
    """Add the `catalogue` sub-app to the root `trustledger` app."""
    app.add_typer(catalogue_app, name="catalogue")


def _departments_line(doc: dict[str, Any]) -> str:
    return ", ".join(f"{d['key']} {d['name_zh']}" for d in doc["issuing_departments"])


@catalogue_app.command("list")
def catalogue_list() -> None:
    """Every licence type: code, catalogue key, names (zh/en), who holds it, which departments issue it."""
    with region() as r:
        catalogue = r.catalogue
        docs = [type_summary_json(t, catalogue) for t in catalogue.licence_types]
    lines = [
        f"{d['code']}  {d['key']:<28} {d['holder_kind']:<12}  {d['name_zh']} / {d['name_en']}\n"
        f"{'':23}issued by: {_departments_line(d)}"
        for d in docs
    ]
    emit({"licence_types": docs}, "\n".join(lines))


def _validity_text(doc: dict[str, Any]) -> str:
    validity = doc["validity"]
    return "长期 (no expiry)" if validity["years"] is None else f"{validity['years']} years"


def _field_line(field: dict[str, Any]) -> str:
    extras = [f"max {field['max_length']}"] if "max_length" in field else []
    extras += [f"one of {'/'.join(field['choices'])}"] if "choices" in field else []
    extras += [f"default {field['default']}"] if "default" in field else []
    extras += ["personal: sealed with the holder data"] if field["personal"] else []
    note = f"  ({'; '.join(extras)})" if extras else ""
    return f"    {field['name']:<24} {field['type']:<7} {field['label_zh']} / {field['label_en']}{note}"


def _type_text(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['name_zh']} / {doc['name_en']}",
        f"  code             {doc['code']}",
        f"  key              {doc['key']}",
        f"  holder           {doc['holder_kind']}"
        + ("  (one active licence per holder)" if doc["one_per_holder"] else ""),
        f"  validity         {_validity_text(doc)}",
        f"  renewal window   {doc['renewal_window_days']} days before expiry",
        "  departments      "
        + "\n                   ".join(
            f"{d['key']:<14} {d['uscc']}  {d['name_zh']}" for d in doc["issuing_departments"]
        ),
        "  required fields",
        *(_field_line(f) for f in doc["required_fields"]),
        "  optional fields" + ("" if doc["optional_fields"] else "  (none)"),
        *(_field_line(f) for f in doc["optional_fields"]),
    ]
    return "\n".join(lines)


@catalogue_app.command("show")
def catalogue_show(
    licence_type: Annotated[
        str,
        typer.Argument(metavar="TYPE", help="type code (11100000000013338W001) or catalogue key (business-licence)"),
    ],
) -> None:
    """One licence type: its required and optional fields (labels zh/en, value types), validity, renewal window and
    the departments that may issue it."""
    with region() as r:
        catalogue = r.catalogue
        doc = type_json(resolve_type(catalogue, licence_type, "TYPE"), catalogue)
    emit(doc, _type_text(doc))
