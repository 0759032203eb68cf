"""Tampered sealed PDFs, as an attacker would try them, through every PDF check: offline, online, the CLI and the API.

Two licences of two departments, each sealed once per module (sealing is the slow part). Every tampering — an /Info
or XMP rewrite naming the other licence in an incremental update, /Subject removed, another department's genuine
seal over this page, a page or annotation appended, a flipped hex digit in /Contents, a bad /ByteRange or xref, a
truncated, encrypted, unsigned or doubly signed file, not a PDF at all — is not valid everywhere, never reports the
other licence, and never ends in a 500 or a traceback.
"""

# mypy: disable-error-code="no-untyped-call,no-any-return"
# (pyHanko ships partial annotations; the attacker's tools below call its untyped writer API)

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from typer.testing import CliRunner

from clock import StartedClock
from licences.application import LicenceView
from seals.render import render_licence_pdf
from seals.sign import _signer, seal_pdf
from signatures.trustlist import TrustList, parse_signed_trust_list
from tests.conftest import START, FakeClock
from tests.seals.helpers import append_content_update
from tests.seals.wiring import PUBLIC_BASE, issue_business_licence, write_trust_list
from trustledger import region as region_module
from trustledger.cli import app
from trustledger.region import Region, init_region
from trustledger.seal_checks import PdfCheck, check_sealed_pdf, check_sealed_pdf_offline
from trustledger.sealing import licence_document, seal_licence_pdf, seal_registry, time_stamp_authority
from trustledger.settings import Settings
from trustledger.verification import root_key_text
from verify_api.apikeys import Role
from verify_api.app import create_app
from verify_api.store import ApiKeyStore


@dataclass
class World:
    region: Region
    settings: Settings
    clock: FakeClock
    mine: LicenceView  # zz-amr's licence: the PDFs under attack
    other: LicenceView  # jinshui-amr's licence: what the attacker wants the PDF to say
    lta: bytes
    bt: bytes
    other_bt: bytes
    trust_list: TrustList
    trust_list_file: Path
    work: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("tampering")
    settings = Settings(home=work / "home", database_url=f"sqlite:///{work / 'db.sqlite'}", public_base_url=PUBLIC_BASE)
    clock = FakeClock(START)
    region = init_region(settings, None, None, None, clock)
    mine = issue_business_licence(region)
    other = issue_business_licence(region, issuer="jinshui-amr", n=1)
    assert mine.issuer != other.issuer
    clock.advance(minutes=1)
    lta = seal_licence_pdf(region, mine.id).pdf
    bt = seal_licence_pdf(region, mine.id, level="b-t").pdf
    other_bt = seal_licence_pdf(region, other.id, level="b-t").pdf
    path = write_trust_list(region, work / "tl.json", clock())
    trust_list = TrustList.from_payload(parse_signed_trust_list(path.read_bytes())["payload"])
    yield World(region, settings, clock, mine, other, lta, bt, other_bt, trust_list, path, work)
    region.close()


# -- the attacker's tools ----------------------------------------------------------------------------------------------


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _info_update(pdf: bytes, entries: dict[str, str | None]) -> bytes:
    """An incremental update rewriting the document information dictionary (None: remove the entry)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    info = writer.trailer["/Info"]
    for key, value in entries.items():
        if value is None:
            info.pop(generic.NameObject(key), None)
        else:
            info[generic.NameObject(key)] = generic.TextStringObject(value)
    writer.update_container(info)
    return _written(writer)


def _xmp_update(pdf: bytes, title: str) -> bytes:
    """An incremental update replacing the catalogue's XMP packet with one naming another licence."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    xmp = (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title></rdf:Description></rdf:RDF>'
        '</x:xmpmeta><?xpacket end="w"?>'
    ).encode()
    stream = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Metadata"),
            generic.NameObject("/Subtype"): generic.NameObject("/XML"),
        },
        stream_data=xmp,
    )
    writer.root[generic.NameObject("/Metadata")] = writer.add_object(stream)
    writer.update_root()
    return _written(writer)


def _page_added(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    content = writer.add_object(generic.StreamObject(stream_data=b"0 0 1 rg 100 400 300 200 re f"))
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
            generic.NameObject("/Resources"): generic.DictionaryObject(),
            generic.NameObject("/Contents"): content,
        }
    )
    writer.insert_page(page)
    return _written(writer)


def _annotation_added(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/FreeText"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(n) for n in (100, 600, 400, 640)]),
            generic.NameObject("/Contents"): generic.TextStringObject("有效期至 2099年"),
            generic.NameObject("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
        }
    )
    writer.register_annotation(page_ref, writer.add_object(annot))
    return _written(writer)


def _flip_contents_hex(pdf: bytes, offset: int) -> bytes:
    """One hex digit of the seal's /Contents changed, `offset` digits in (the seal is the first signature)."""
    at = pdf.index(b"/Contents <") + len(b"/Contents <") + offset
    digit = pdf[at : at + 1]
    return pdf[:at] + (b"1" if digit == b"0" else b"0") + pdf[at + 1 :]


def _bad_byte_range(pdf: bytes) -> bytes:
    match = re.search(rb"/ByteRange \[\s*0 (\d+)", pdf)
    assert match is not None
    number = match.group(1)
    changed = str(int(number) - 7).rjust(len(number)).encode()
    return pdf[: match.start(1)] + changed + pdf[match.end(1) :]


def _bad_xref(pdf: bytes) -> bytes:
    match = list(re.finditer(rb"startxref\s+(\d+)", pdf))[-1]
    number = match.group(1)
    changed = str(int(number) // 2).rjust(len(number)).encode()
    return pdf[: match.start(1)] + changed + pdf[match.end(1) :]


def _encrypted() -> bytes:
    writer = PdfFileWriter()
    writer.encrypt("owner", "user")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _other_departments_seal(world: World, *, without_subject: bool) -> bytes:
    """This licence's page sealed with the other department's genuine seal (optionally with no /Subject at all)."""
    _, document = licence_document(world.region, world.mine.id)
    page = render_licence_pdf(document)
    if without_subject:
        page = _info_update(page, {"/Subject": None, "/Title": None})
    key = seal_registry(world.region).seal_key(world.other.issuer, world.clock())
    return seal_pdf(page, key, authority=time_stamp_authority(world.region)).data


def _unsealed(world: World) -> bytes:
    return render_licence_pdf(licence_document(world.region, world.mine.id)[1])


def _second_signature(world: World, pdf: bytes) -> bytes:
    key = seal_registry(world.region).seal_key(world.mine.issuer, world.clock())
    meta = signers.PdfSignatureMetadata(field_name="Second", md_algorithm="sha256")
    out = signers.PdfSigner(meta, signer=_signer(key)).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))
    return out.getvalue()


def _swap(world: World, pdf: bytes) -> bytes:
    other = world.other.identifier
    return _info_update(pdf, {"/Subject": other, "/Title": f"营业执照 {other}", "/Keywords": world.other.qr_url})


TAMPERINGS: dict[str, Callable[[World], bytes]] = {
    "subject_title_swapped_bt": lambda w: _swap(w, w.bt),
    "subject_title_swapped_lta": lambda w: _swap(w, w.lta),
    "subject_removed": lambda w: _info_update(w.bt, {"/Subject": None}),
    "subject_removed_lta": lambda w: _info_update(w.lta, {"/Subject": None, "/Keywords": None}),
    "xmp_rewritten": lambda w: _xmp_update(w.bt, w.other.identifier),
    "other_departments_seal": lambda w: _other_departments_seal(w, without_subject=False),
    "other_departments_seal_no_subject": lambda w: _other_departments_seal(w, without_subject=True),
    "page_added": lambda w: _page_added(w.bt),
    "page_added_lta": lambda w: _page_added(w.lta),
    "annotation_added": lambda w: _annotation_added(w.bt),
    "annotation_added_lta": lambda w: _annotation_added(w.lta),
    "content_replaced": lambda w: append_content_update(w.bt),
    "second_update_after_swap": lambda w: _annotation_added(_swap(w, w.bt)),
    "contents_hex_flipped_structure": lambda w: _flip_contents_hex(w.bt, 9),
    "contents_hex_flipped_header": lambda w: _flip_contents_hex(w.bt, 1),
    "contents_hex_flipped_middle": lambda w: _flip_contents_hex(w.bt, 3000),
    "contents_hex_flipped_lta": lambda w: _flip_contents_hex(w.lta, 9),
    "byte_range_changed": lambda w: _bad_byte_range(w.bt),
    "xref_broken": lambda w: _bad_xref(w.bt),
    "truncated_half": lambda w: w.bt[: len(w.bt) // 2],
    "truncated_tail": lambda w: w.bt[:-40],
    "header_only": lambda w: b"%PDF-1.7\n",
    "not_a_pdf": lambda w: b"PK\x03\x04 a zip, not a PDF",
    "empty": lambda w: b"",
    "encrypted": lambda w: _encrypted(),
    "no_signature": _unsealed,
    "two_signatures": lambda w: _second_signature(w, w.bt),
    "other_licence_pdf_with_this_subject": lambda w: _info_update(w.other_bt, {"/Subject": w.mine.identifier}),
}


@pytest.fixture(scope="module")
def tampered(world: World) -> dict[str, bytes]:
    return {name: make(world) for name, make in TAMPERINGS.items()}


def _not_the_other(world: World, check: PdfCheck, attacked: str) -> None:
    other = world.mine if attacked == "other_licence_pdf_with_this_subject" else world.other
    assert not check.valid, check.checks
    assert check.failures
    assert check.identifier != other.identifier
    assert check.licence is None or check.licence.identifier != other.identifier


# -- the genuine PDFs pass, so the refusals below are the tampering's ------------------------------------------------


def test_genuine_pdfs_are_valid_everywhere(world: World) -> None:
    for pdf in (world.bt, world.lta):
        offline = check_sealed_pdf_offline(pdf, world.trust_list, world.clock())
        online = check_sealed_pdf(world.region, pdf)
        assert offline.valid and online.valid, (offline.failures, online.failures)
        assert offline.identifier == online.identifier == world.mine.identifier


# -- the core check, offline and online --------------------------------------------------------------------------


@pytest.mark.parametrize("attack", TAMPERINGS)
def test_offline_and_online_refuse(world: World, tampered: dict[str, bytes], attack: str) -> None:
    data = tampered[attack]
    offline = check_sealed_pdf_offline(data, world.trust_list, world.clock())
    online = check_sealed_pdf(world.region, data)
    _not_the_other(world, offline, attack)
    _not_the_other(world, online, attack)
    for check in (offline, online):
        assert all(c.code for c in check.failures)  # every failure has a stable code
        json.dumps(check.to_json())


def test_each_class_fails_with_its_reason(world: World, tampered: dict[str, bytes]) -> None:
    def codes(attack: str) -> dict[str, str | None]:
        check = check_sealed_pdf_offline(tampered[attack], world.trust_list, world.clock())
        return {c.name: c.code for c in check.failures}

    for attack in ("subject_title_swapped_bt", "subject_title_swapped_lta", "xmp_rewritten", "subject_removed"):
        assert codes(attack) == {"whole_document": "incremental_update"}, attack
    for attack in ("page_added", "annotation_added_lta", "second_update_after_swap"):
        assert codes(attack)["whole_document"] == "incremental_update", attack
    assert codes("other_departments_seal") == {"certificate": "wrong_issuer"}
    assert codes("other_departments_seal_no_subject") == {"certificate": "no_licence_identifier"}
    for attack in ("contents_hex_flipped_structure", "contents_hex_flipped_header", "contents_hex_flipped_middle"):
        assert codes(attack)["intact"] in {"seal_unevaluable", "pdf_altered"}, attack
    assert codes("byte_range_changed")["intact"] in {"seal_unevaluable", "pdf_altered"}
    for attack in ("truncated_half", "truncated_tail", "not_a_pdf", "empty", "encrypted", "header_only", "xref_broken"):
        assert codes(attack)["intact"] in {"unusable_pdf", "no_seal", "seal_unevaluable"}, attack
    assert codes("not_a_pdf") == codes("empty") == codes("encrypted") == {"intact": "unusable_pdf"}
    assert codes("no_signature") == {"intact": "no_seal"}
    assert codes("two_signatures")["intact"] == "no_seal"


def test_the_identifier_is_the_signed_revisions(world: World, tampered: dict[str, bytes]) -> None:
    swapped = check_sealed_pdf_offline(tampered["subject_title_swapped_bt"], world.trust_list, world.clock())
    assert swapped.identifier == world.mine.identifier and swapped.qr_url == world.mine.qr_url
    online = check_sealed_pdf(world.region, tampered["subject_title_swapped_lta"])
    assert online.identifier == world.mine.identifier
    assert online.licence is not None and online.licence.id == world.mine.id


# -- the CLI and the API ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(world.settings.home))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", world.settings.database_url)
    monkeypatch.setenv("TRUSTLEDGER_PUBLIC_BASE_URL", PUBLIC_BASE)
    shared = StartedClock(world.clock() + timedelta(minutes=1))
    monkeypatch.setattr(region_module, "region_clock", lambda settings: shared)
    return CliRunner()


def test_cli_refuses_without_a_traceback(world: World, tampered: dict[str, bytes], cli: CliRunner) -> None:
    root_key = root_key_text(world.region.keys.load("root").public_key())  # type: ignore[arg-type]
    at = (world.clock() + timedelta(minutes=1)).isoformat()
    offline = ["--offline", "--trust-list", str(world.trust_list_file), "--root-key", root_key, "--at", at]
    genuine = world.work / "genuine.pdf"
    genuine.write_bytes(world.bt)
    assert cli.invoke(app, ["verify", str(genuine)]).exit_code == 0
    assert cli.invoke(app, ["verify", str(genuine), *offline]).exit_code == 0
    for attack, data in tampered.items():
        path = world.work / f"{attack}.pdf"
        path.write_bytes(data)
        for extra in ([], offline):
            result = cli.invoke(app, ["--json", "verify", str(path), *extra])
            assert result.exit_code == 1, (attack, extra, result.stdout, result.stderr, result.exception)
            assert result.exception is None or isinstance(result.exception, SystemExit), (attack, result.exception)
            assert "Traceback" not in result.stdout + result.stderr
            report = json.loads(result.stdout)
            assert report["valid"] is False and report["reasons"], attack
            assert report.get("identifier") != world.other.identifier or attack.startswith("other_licence")


@pytest.fixture
def http(world: World) -> Iterator[tuple[TestClient, str]]:
    key = ApiKeyStore(world.region.store.engine).create(Role.VERIFIER, "审批系统", "", world.clock()).key
    with TestClient(create_app(world.region), raise_server_exceptions=False) as client:
        yield client, key


def test_api_refuses_without_a_500(world: World, tampered: dict[str, bytes], http: tuple[TestClient, str]) -> None:
    client, key = http
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/pdf"}
    genuine = client.post("/v1/verify/pdf", content=world.bt, headers=headers)
    assert genuine.status_code == 200 and genuine.json()["valid"] is True, genuine.text
    for attack, data in tampered.items():
        response = client.post("/v1/verify/pdf", content=data, headers=headers)
        assert response.status_code < 500, (attack, response.text)
        if response.status_code != 200:
            assert response.headers["content-type"].startswith("application/problem+json"), attack
            continue
        body = response.json()
        assert body["valid"] is False and body["verdict"] != "valid", attack
        other = world.mine if attack.startswith("other_licence") else world.other
        assert body["identifier"] != other.identifier, attack
        assert body["licence"] is None or body["licence"]["identifier"] != other.identifier, attack


def test_an_update_that_only_refreshes_the_dates_stays_valid(world: World) -> None:
    """pyHanko's writer refreshes /Info's ModDate and the XMP dates on every incremental write, to the second: a B-LTA
    revision written in a later second than the seal carries exactly that change, and the seal stays valid. Any other
    /Info or XMP change is still an alteration (the title, below)."""
    for pdf in (world.bt, world.lta):
        refreshed = _info_update(pdf, {"/ModDate": "D:20300101000000Z"})
        assert refreshed != pdf
        offline = check_sealed_pdf_offline(refreshed, world.trust_list, world.clock())
        assert offline.valid, offline.failures
        # Online, only the ledger notices: these bytes are not the ones whose SHA-256 it recorded at sealing.
        online = check_sealed_pdf(world.region, refreshed)
        assert [f.code for f in online.failures] == ["not_on_ledger"]
        retitled = _info_update(pdf, {"/ModDate": "D:20300101000000Z", "/Title": world.other.identifier})
        assert not check_sealed_pdf_offline(retitled, world.trust_list, world.clock()).valid
