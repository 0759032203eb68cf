"""The matter catalogue (事项目录): which licence types replace a matter's paper materials, and which of their fields
the matter needs (DESIGN §5, §8: licence-free handling, 免证办).

A matter is published on the ledger like every other catalogue entry: a `CatalogueEntryPublished` event of kind
`matter` in the registry's own stream for it, with its `registry_entries` row in the same transaction, so the audit
re-derives it with the rest of the catalogue. The packaged data is `licences/matters.yaml`; `init` publishes what is
new or changed. Parsing is strict and checks every reference against the licence catalogue: an unknown type or
department, an unknown field, or a personal field (sealed with the holder, never disclosed this way) is refused, so
a matter can only ever ask for public fields its types have.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import yaml

from licences.catalogue import Catalogue
from licences.errors import CatalogueError, LicenceError
from licences.recording import Recording
from licences.registry import CatalogueEntryPublished, RegistryService, document_digest, entry_stream
from licences.store import LicenceStore
from licences.values import utc

if TYPE_CHECKING:  # the read models' SQL stays in licences/store*.py
    from sqlalchemy import Connection

MATTER_KIND = "matter"
MATTERS_FILE = "matters.yaml"
MAX_FILE_BYTES = 256 * 1024
MATTER_CODE = re.compile(r"[0-9A-Za-z._-]{1,64}")  # as a use's `matter_code` (licences.invocation)
_MATTER_KEYS = {"code", "name_zh", "name_en", "departments", "licence_types"}
_NEED_KEYS = {"type", "fields"}
_MAX_NAME = 200


class UnknownMatterError(LicenceError, KeyError):
    """No matter with this code is in the published matter catalogue."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown matter"


@dataclass(frozen=True, slots=True)
class MatterNeed:
    """One licence type that replaces a material of a matter, and the public fields the matter needs from it."""

    type_code: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Matter:
    """A matter (事项): code, names, the departments handling it, and the licence types it accepts with their fields."""

    code: str
    name_zh: str
    name_en: str
    departments: tuple[str, ...]
    needs: tuple[MatterNeed, ...]

    def need(self, type_code: str) -> MatterNeed | None:
        """What the matter needs from a licence of `type_code`, or None if that type is no material of it."""
        return next((n for n in self.needs if n.type_code == type_code), None)

    def document(self) -> dict[str, Any]:
        """The canonical document published on the ledger (type codes, department keys)."""
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "departments": list(self.departments),
            "licence_types": [{"type": n.type_code, "fields": list(n.fields)} for n in self.needs],
        }


def matter_json(matter: Matter, catalogue: Catalogue) -> dict[str, Any]:
    """The matter as the CLI and `GET /v1/matters` show it: names, departments, and each type's needed fields."""
    departments = [catalogue.department(key) for key in matter.departments]
    types = [(need, catalogue.licence_type(need.type_code)) for need in matter.needs]
    return {
        "code": matter.code,
        "name_zh": matter.name_zh,
        "name_en": matter.name_en,
        "departments": [
            {"key": d.key, "uscc": d.uscc, "name_zh": d.name_zh, "name_en": d.name_en} for d in departments
        ],
        "licence_types": [
            {
                "type_code": t.code,
                "type_key": t.key,
                "name_zh": t.name_zh,
                "name_en": t.name_en,
                "fields": list(n.fields),
            }
            for n, t in types
        ],
    }


# -- parsing -----------------------------------------------------------------------------------------------------------


def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_NAME or not value.isprintable():
        raise CatalogueError(f"{where}: {key} must be 1-{_MAX_NAME} printable characters")
    return value.strip()


def _names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise CatalogueError(f"{where} must be a non-empty list of names")
    if len(set(value)) != len(value):
        raise CatalogueError(f"{where} names one entry twice")
    return tuple(value)


def _need(doc: object, catalogue: Catalogue, where: str) -> MatterNeed:
    if not isinstance(doc, dict) or set(doc) != _NEED_KEYS:
        raise CatalogueError(f"{where}: must have exactly the keys {sorted(_NEED_KEYS)}")
    try:
        licence_type = catalogue.licence_type(str(doc["type"]))
    except LicenceError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
    fields = _names(doc["fields"], f"{where}.fields")
    for name in fields:
        spec = licence_type.field_spec(name)
        if spec is None:
            raise CatalogueError(f"{where}: {name!r} is not a field of {licence_type.name_zh}")
        if spec.personal:  # sealed with the holder's data: not the catalogue's to disclose
            raise CatalogueError(f"{where}: {name!r} of {licence_type.name_zh} is personal and cannot be disclosed")
    return MatterNeed(licence_type.code, fields)


def parse_matter(doc: object, catalogue: Catalogue, where: str = "matter") -> Matter:
    """A matter from its document, every reference checked against `catalogue`; `CatalogueError` naming the fault."""
    if not isinstance(doc, dict):
        raise CatalogueError(f"{where}: must be a mapping")
    if set(doc) != _MATTER_KEYS:
        raise CatalogueError(f"{where}: must have exactly the keys {sorted(_MATTER_KEYS)}")
    code = doc["code"]
    if not isinstance(code, str) or MATTER_CODE.fullmatch(code) is None:
        raise CatalogueError(f"{where}: code must be 1-64 characters of 0-9A-Za-z._-")
    where = f"{where} {code}"
    departments = _names(doc["departments"], f"{where}: departments")
    try:
        keys = tuple(catalogue.department(d).key for d in departments)
    except LicenceError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
    raw_needs = doc["licence_types"]
    if not isinstance(raw_needs, list) or not raw_needs:
        raise CatalogueError(f"{where}: licence_types must be a non-empty list")
    needs = tuple(_need(n, catalogue, f"{where}: licence_types[{i}]") for i, n in enumerate(raw_needs))
    if len({n.type_code for n in needs}) != len(needs):
        raise CatalogueError(f"{where}: a licence type is listed twice")
    return Matter(code, _text(doc, "name_zh", where), _text(doc, "name_en", where), keys, needs)


def parse_matters(documents: Sequence[object], catalogue: Catalogue) -> list[Matter]:
    """Every matter of a data file, codes unique."""
    matters = [parse_matter(d, catalogue, f"matters[{i}]") for i, d in enumerate(documents)]
    if len({m.code for m in matters}) != len(matters):
        raise CatalogueError("matters: a matter code is listed twice")
    return matters


def packaged_matter_documents() -> list[object]:
    """The packaged matter catalogue (`licences/matters.yaml`) as raw documents."""
    data = files("licences").joinpath(MATTERS_FILE).read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise CatalogueError(f"{MATTERS_FILE}: larger than {MAX_FILE_BYTES} bytes")
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{MATTERS_FILE}: not valid UTF-8 YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"matters"} or not isinstance(doc["matters"], list):
        raise CatalogueError(f"{MATTERS_FILE}: must be a mapping with one key, matters, holding a list")
    return list(doc["matters"])


# -- the published catalogue -------------------------------------------------------------------------------------------


class MatterCatalogue:
    """The matter catalogue of a region as its ledger publishes it: publish new entries, read them back."""

    def __init__(self, recording: Recording, store: LicenceStore, registry: RegistryService) -> None:
        self.recording = recording
        self.store = store
        self.registry = registry

    def publish(self, documents: Sequence[object]) -> int:
        """Publish every matter whose document is new or changed (all validated first); returns the events written."""
        matters = parse_matters(documents, self.registry.catalogue())
        events: list[CatalogueEntryPublished] = []
        for matter in matters:
            document = matter.document()
            digest = document_digest(document)
            known = self.store.registry_entry(MATTER_KIND, matter.code)
            if known is not None and known[1] == digest:
                continue
            events.append(
                CatalogueEntryPublished(
                    originator_id=entry_stream(MATTER_KIND, matter.code),
                    originator_version=1 if known is None else known[2] + 1,
                    timestamp=utc(self.registry.clock()),
                    kind=MATTER_KIND,
                    key=matter.code,
                    document=document,
                    digest=digest,
                )
            )
        if not events:
            return 0

        issuers = self.store.issuers()

        def project(conn: Connection, leaves: Sequence[int]) -> None:
            for event, leaf in zip(events, leaves, strict=True):
                LicenceStore.put_registry_entry(
                    conn, event.kind, event.key, event.document, event.digest, event.originator_version, leaf
                )
            # `registry_issuers.leaf_index` is the newest catalogue leaf, whatever the entry's kind (as the audit
            # re-derives it, `licences.derived_audit.RegistryAudit`): a matter is a catalogue entry too.
            for row in issuers:
                LicenceStore.put_issuer(conn, dataclasses.replace(row, leaf_index=leaves[-1]))

        self.recording.save(events, project)
        return len(events)

    def matters(self) -> list[Matter]:
        """Every published matter, in order of publication."""
        catalogue = self.registry.catalogue()
        return [
            parse_matter(doc, catalogue, f"matter {key}") for key, doc in self.store.registry_documents(MATTER_KIND)
        ]

    def matter(self, code: str) -> Matter:
        """The published matter `code`; `UnknownMatterError` if there is none."""
        found = self.store.registry_entry(MATTER_KIND, code) if MATTER_CODE.fullmatch(code) else None
        if found is None:
            raise UnknownMatterError(f"no matter {code!r} in the matter catalogue")
        return parse_matter(found[0], self.registry.catalogue(), f"matter {code}")
