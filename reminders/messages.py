"""The reminder catalogue (提醒事项目录) as data: Chinese message templates per licence type and stage.

The words live in `licences/catalogue/reminders.yaml`; lead days and channels live in each licence type's own file.
Loading is strict: unknown keys, a type or stage the licence catalogue does not remind, a template that does not
compile or uses an unknown variable, an over-long subject or SMS are all `ReminderCatalogueError`s naming the place.
Templates run in Jinja2's sandbox with undefined variables as errors; only the HTML part is autoescaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from licences.catalogue.model import Catalogue, LicenceType
from licences.identifiers import resident_id_check_char
from reminders.errors import MessageRenderError, ReminderCatalogueError

MESSAGES_FILE = "messages.yaml"
MAX_FILE_BYTES = 256 * 1024
MAX_SUBJECT_CHARS = 200
MAX_SMS_CHARS = 300
MAX_DIGEST_ITEMS = 5000
PARTS = ("subject", "text", "html", "sms")
DIGEST_PARTS = ("subject", "text", "html")
_TYPE_KEY = re.compile(r"[a-z][a-z0-9_-]{1,39}")
# An 18-character run that could be a resident ID number (GB 11643): 17 digits then a digit or X, standing alone.
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx])(?![0-9A-Za-z])")

SAMPLE_REMINDER: Mapping[str, Any] = {
    "region_name": "河南省",
    "department_name": "郑州市市场监督管理局",
    "type_name": "食品经营许可证",
    "identifier": "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "holder_name": "张*丰",
    "valid_until": "2026年3月1日",
    "days_left": 30,
    "stage": 30,
    "renewal_window_days": 90,
}
SAMPLE_DIGEST: Mapping[str, Any] = {
    "region_name": "河南省",
    "department_name": "郑州市市场监督管理局",
    "month": "2026年12月",
    "total": 2,
    "by_type": [{"type_name": "食品经营许可证", "count": 2}],
    "items": [
        {"identifier": SAMPLE_REMINDER["identifier"], "type_name": "食品经营许可证", "valid_until": "2026年12月3日"}
    ],
    "more": 1,
}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One message in every form a channel may need: e-mail subject, plain text, HTML, SMS ("" when not defined)."""

    subject: str
    text: str
    html: str
    sms: str = ""


@dataclass(frozen=True)
class _Parts:
    subject: Template
    text: Template
    html: Template
    sms: Template | None


class ReminderCatalogue:
    """Compiled reminder templates; renders the message of a (licence type, stage) and the monthly digest."""

    def __init__(
        self,
        default: Mapping[str, Template],
        types: Mapping[str, Mapping[int | None, Mapping[str, Template]]],
        digest: Mapping[str, Template],
        max_digest_items: int,
    ) -> None:
        self._default = default
        self._types = types
        self._digest = digest
        self.max_digest_items = max_digest_items

    def _parts(self, type_key: str, stage: int) -> _Parts:
        by_stage = self._types.get(type_key, {})
        chosen: dict[str, Template] = {}
        for part in PARTS:
            for source in (by_stage.get(stage, {}), by_stage.get(None, {}), self._default):
                if part in source:
                    chosen[part] = source[part]
                    break
        return _Parts(chosen["subject"], chosen["text"], chosen["html"], chosen.get("sms"))

    def render_reminder(self, licence_type: LicenceType, stage: int, context: Mapping[str, Any]) -> RenderedMessage:
        """The reminder of `stage` for a licence of `licence_type`; raises `MessageRenderError` (fail closed)."""
        if stage not in licence_type.reminders.lead_days:
            raise MessageRenderError(f"{licence_type.key} has no reminder stage {stage}")
        parts = self._parts(licence_type.key, stage)
        return RenderedMessage(
            subject=_one_line(_render(parts.subject, context, "subject")),
            text=_render(parts.text, context, "text"),
            html=_render(parts.html, context, "html"),
            sms=_render(parts.sms, context, "sms").strip() if parts.sms is not None else "",
        )

    def render_digest(self, context: Mapping[str, Any]) -> RenderedMessage:
        """The monthly digest of a department (what it issued that expires next month)."""
        return RenderedMessage(
            subject=_one_line(_render(self._digest["subject"], context, "digest.subject")),
            text=_render(self._digest["text"], context, "digest.text"),
            html=_render(self._digest["html"], context, "digest.html"),
        )


def _render(template: Template, context: Mapping[str, Any], where: str) -> str:
    try:
        text = template.render(**context)
    except TemplateError as exc:
        raise MessageRenderError(f"{where}: {exc}") from None
    refuse_id_numbers(text, where)
    return text


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    if not line or len(line) > MAX_SUBJECT_CHARS:
        raise MessageRenderError(f"subject must be 1-{MAX_SUBJECT_CHARS} characters")
    return line


def refuse_id_numbers(text: str, where: str = "message") -> None:
    """Raise `MessageRenderError` if `text` contains what checks out as a resident ID number (GB 11643 MOD 11-2).

    A message must never carry an ID number; any 17 digits followed by their own check character count (fail closed).
    """
    for match in _ID_LIKE.finditer(text):
        number = match.group(1).upper()
        if resident_id_check_char(number[:17]) == number[17]:
            raise MessageRenderError(f"{where}: refusing to send a resident ID number")


# -- Loading -----------------------------------------------------------------------------------------------------------


def _environments() -> tuple[SandboxedEnvironment, SandboxedEnvironment]:
    common: dict[str, Any] = {"undefined": StrictUndefined, "keep_trailing_newline": True, "trim_blocks": False}
    return SandboxedEnvironment(autoescape=False, **common), SandboxedEnvironment(autoescape=True, **common)


def _mapping(value: object, where: str, allowed: tuple[str | int, ...]) -> dict[Any, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str | int) and not isinstance(k, bool) for k in value):
        raise ReminderCatalogueError(f"{where}: expected a mapping")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ReminderCatalogueError(f"{where}: unknown keys {unknown}")
    return dict(value)


def _compile_parts(value: object, where: str, parts: tuple[str, ...], *, required: bool) -> dict[str, Template]:
    doc = _mapping(value, where, parts)
    plain, html = _environments()
    compiled: dict[str, Template] = {}
    for part in parts:
        if part not in doc:
            if required and part != "sms":
                raise ReminderCatalogueError(f"{where}: missing key {part!r}")
            continue
        source = doc[part]
        if not isinstance(source, str) or not source.strip():
            raise ReminderCatalogueError(f"{where}.{part}: expected a non-empty template string")
        try:
            compiled[part] = (html if part == "html" else plain).from_string(source)
        except TemplateError as exc:
            raise ReminderCatalogueError(f"{where}.{part}: template does not compile: {exc}") from None
    return compiled


def _check_renders(parts: Mapping[str, Template], sample: Mapping[str, Any], where: str) -> None:
    """Render with a sample so that a misspelt variable fails at load time, not at 3 a.m. in the scheduler."""
    for part, template in parts.items():
        try:
            text = _render(template, sample, f"{where}.{part}")
            if part == "subject":
                _one_line(text)
        except MessageRenderError as exc:
            raise ReminderCatalogueError(f"{where}.{part}: {exc}") from None
        if part == "sms" and len(text.strip()) > MAX_SMS_CHARS:
            raise ReminderCatalogueError(f"{where}.sms: longer than {MAX_SMS_CHARS} characters")


def _parse_type(key: object, value: object, catalogue: Catalogue, where: str) -> dict[int | None, dict[str, Template]]:
    if not isinstance(key, str) or _TYPE_KEY.fullmatch(key) is None:
        raise ReminderCatalogueError(f"{where}: malformed licence type key {key!r}")
    try:
        licence_type = catalogue.licence_type(key)
    except LookupError:
        raise ReminderCatalogueError(f"{where}: no licence type {key!r} in the catalogue") from None
    if not licence_type.reminders.lead_days:
        raise ReminderCatalogueError(f"{where}: {key} has no reminder lead days, so no messages")
    doc = _mapping(value, where, ("stages", "all_stages"))
    result: dict[int | None, dict[str, Template]] = {}
    if "all_stages" in doc:
        result[None] = _compile_parts(doc["all_stages"], f"{where}.all_stages", PARTS, required=False)
    for stage, parts in _mapping(doc.get("stages", {}), f"{where}.stages", licence_type.reminders.lead_days).items():
        result[int(stage)] = _compile_parts(parts, f"{where}.stages.{stage}", PARTS, required=False)
    for stage_key, parts_of_stage in result.items():
        sample = {**SAMPLE_REMINDER, "stage": stage_key or licence_type.reminders.lead_days[0]}
        _check_renders(parts_of_stage, sample, f"{where}.{'all_stages' if stage_key is None else stage_key}")
    return result


def parse_reminder_catalogue(document: object, catalogue: Catalogue, where: str = MESSAGES_FILE) -> ReminderCatalogue:
    """Parse and check the reminder catalogue document against the licence catalogue."""
    doc = _mapping(document, where, ("version", "default", "types", "digest"))
    if doc.get("version") != 1:
        raise ReminderCatalogueError(f"{where}.version: expected 1")
    default = _compile_parts(doc.get("default"), f"{where}.default", PARTS, required=True)
    _check_renders(default, SAMPLE_REMINDER, f"{where}.default")
    types_doc = _mapping(doc.get("types", {}), f"{where}.types", tuple(t.key for t in catalogue.licence_types))
    types = {key: _parse_type(key, value, catalogue, f"{where}.types.{key}") for key, value in types_doc.items()}
    digest_doc = _mapping(doc.get("digest"), f"{where}.digest", (*DIGEST_PARTS, "max_items"))
    max_items = digest_doc.pop("max_items", 500)
    if not isinstance(max_items, int) or isinstance(max_items, bool) or not 1 <= max_items <= MAX_DIGEST_ITEMS:
        raise ReminderCatalogueError(f"{where}.digest.max_items: expected 1..{MAX_DIGEST_ITEMS}")
    digest = _compile_parts(digest_doc, f"{where}.digest", DIGEST_PARTS, required=True)
    _check_renders(digest, SAMPLE_DIGEST, f"{where}.digest")
    return ReminderCatalogue(default, types, digest, max_items)


def read_reminder_document(data: bytes, where: str = MESSAGES_FILE) -> object:
    """Parse the YAML bytes of a reminder catalogue (size-capped, UTF-8)."""
    if len(data) > MAX_FILE_BYTES:
        raise ReminderCatalogueError(f"{where}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ReminderCatalogueError(f"{where}: not valid UTF-8 YAML: {exc}") from None


@cache
def load_reminder_catalogue(catalogue: Catalogue) -> ReminderCatalogue:
    """Load and check the packaged reminder catalogue for `catalogue` (once per process and catalogue)."""
    data = files("reminders").joinpath(MESSAGES_FILE).read_bytes()
    return parse_reminder_catalogue(read_reminder_document(data), catalogue)
