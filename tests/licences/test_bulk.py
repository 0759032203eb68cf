"""Bulk import of existing licences and synthetic seeding, on SQLite and PostgreSQL.

One region per backend serves the whole module (initialising a region costs seconds); each test uses its own serial
numbers, holders and files, and counts licences relative to where it started.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from demo.seed import LicenceFactory, seed_licences
from demo.synthetic import SyntheticHolders
from licences.application import LicenceView
from licences.bulk import BulkImporter, ImportReport
from licences.errors import HolderAlreadyHoldsError, ImportFileError, InvalidFieldError, PrivacyError
from licences.identifiers import HolderKind, parse_holder_id, parse_identifier
from licences.import_rows import detect_format, parse_when, scan_file
from licences.store_imports import ImportStore, import_file_key, import_progress
from licences.values import LicenceStatus, RevocationKind
from tests.conftest import BACKENDS, PG_ADMIN_URL, FakeClock
from tests.licences.bulk_rows import (
    TRAFFIC_POLICE,
    ZZ_HC,
    driving_row,
    food_row,
    hygiene_row,
    read_rejects,
    with_bad_check,
    with_bad_last_char,
    write_csv,
    write_jsonl,
)
from tests.samples import FOOD, person_fields
from trustledger.region import Region, init_region, open_region
from trustledger.settings import Settings


class Crash(BaseException):
    """Stands in for a kill inside a batch's transaction (not a row error: nothing catches it)."""


@contextmanager
def _pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema (as the `pg_schema` fixture makes, but for a whole module), dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def region(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    """A region of each backend for the module (the same backends and PostgreSQL server as `db_url`)."""
    home = tmp_path_factory.mktemp("bulk")
    with ExitStack() as stack:
        sqlite = f"sqlite:///{home / 'region.db'}"
        url = sqlite if request.param == "sqlite" else stack.enter_context(_pg_schema())
        settings = Settings(home=home / "home", database_url=url)
        clock = FakeClock()
        init_region(settings, None, None, None, clock).close()
        r = open_region(settings, clock)
        stack.callback(r.close)
        yield r


@pytest.fixture
def clock(region: Region) -> FakeClock:
    assert isinstance(region.clock, FakeClock)
    return region.clock


def importer(region: Region, batch: int = 500, **kwargs: object) -> BulkImporter:
    return BulkImporter(region.licences, ImportStore(region.store.engine), batch_size=batch, **kwargs)  # type: ignore[arg-type]


def run(region: Region, path: Path, batch: int = 500, resume: bool = True, **kwargs: object) -> ImportReport:
    rejects = path.with_name(path.name + ".rejects.csv")
    return importer(region, batch, **kwargs).run(path, detect_format(path), rejects_path=rejects, resume=resume)


def test_csv_round_trip_with_recorded_statuses(region: Region, clock: FakeClock, tmp_path: Path) -> None:
    holders = SyntheticHolders(1)
    before = region.licence_store.count()
    rows = [food_row(n, holders) for n in range(101, 113)]
    rows[4]["status"] = "suspended"
    rows[5]["status"] = "吊销"
    rows[5]["status_reason"] = "违法经营"
    rows[6]["valid_until"] = "2026-02-01"
    path = write_csv(tmp_path / "food.csv", [{**r, "status_reason": r.get("status_reason", "")} for r in rows])
    report = run(region, path, batch=5, in_transaction=lambda _batch: clock.advance(seconds=1))  # a second a batch
    assert (report.imported, report.rejected, report.skipped, report.batches) == (12, 0, 0, 3)
    assert report.finished and report.rate > 0 and not (tmp_path / "food.csv.rejects.csv").exists()
    assert report.seconds == 3.0  # timed on the region's clock
    svc = region.licences
    views = [svc.get(svc.resolve(r["identifier"])) for r in rows]
    assert all(v.imported and v.issuer == "11410100007409378P" for v in views)
    assert views[0].status is LicenceStatus.VALID and views[0].fields["main_format"] == "餐饮服务经营者"
    assert views[0].valid_from.isoformat() == "2021-02-28T16:00:00+00:00"  # midnight in China
    assert views[0].valid_until is not None and views[0].valid_until.year == 2026  # the type's five years
    assert views[4].status is LicenceStatus.SUSPENDED and views[5].status is LicenceStatus.REVOKED
    assert views[6].valid_until is not None and views[6].valid_until.isoformat() == "2026-01-31T16:00:00+00:00"
    assert [h.kind for h in svc.history(views[5].id)] == ["issued", "revoked"]
    assert svc.load(views[5].id).revocation is not None
    assert svc.by_holder(rows[3]["holder_id"])[0].id == views[3].id
    assert region.licence_store.count() == before + 12


def test_jsonl_round_trip(region: Region, tmp_path: Path) -> None:
    holders = SyntheticHolders(2)
    rows = [driving_row(n, holders) for n in range(201, 206)] + [hygiene_row(201, holders, status="暂扣")]
    rows[1]["fields"]["nationality"] = None  # a null value is an absent value: the default applies
    rows[5]["fields"]["area_sqm"] = 120
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    report = run(region, path, batch=2)
    assert (report.imported, report.rejected) == (6, 0)
    svc = region.licences
    driving = svc.get(svc.resolve(rows[0]["identifier"]))
    assert driving.licence_version == 2 and driving.fields == {
        "first_issued_on": "2014-07-01",
        "nationality": "中国",
        "vehicle_class": "C1",
    }
    holder = svc.holder(driving.id)  # personal fields are sealed with the holder, not in the read model
    assert holder.id_number == rows[0]["holder_id"] and holder.personal_fields["address"] == "郑州市金水区经三路66号"
    hygiene = svc.get(svc.resolve(rows[5]["identifier"]))
    assert hygiene.fields["area_sqm"] == 120 and hygiene.status is LicenceStatus.SUSPENDED


def test_rejects_name_the_field_and_good_rows_still_land(region: Region, tmp_path: Path) -> None:
    holders = SyntheticHolders(3)
    citizen = holders.citizen()
    rows = [food_row(n, holders) for n in range(301, 315)]
    rows[1]["holder_id"] = with_bad_last_char(rows[1]["holder_id"])  # line 3: bad USCC check character
    rows[2]["type"] = "no-such-type"  # line 4
    rows[3]["issuer"] = "zz-traffic-police"  # line 5: not authorised for food licences
    rows[4]["valid_from"] = "2021-02-30"  # line 6: no such date
    rows[5]["identifier"] = rows[0]["identifier"]  # line 7: landed with an earlier batch
    rows[13]["identifier"] = rows[12]["identifier"]  # line 15: the same licence twice in one batch
    rows[6]["fields.main_format"] = "夜总会"  # line 8: not one of the choices
    rows[7]["status"] = "lost"  # line 9
    rows[8]["holder_id"] = ""  # line 10: required
    rows[9]["valid_until"] = "2020-01-01"  # line 11: ends before it starts
    rows[10]["identifier"] = "1.2.156.3005.2.nonsense"  # line 12
    rows[11]["valid_from"] = "2021-03-01T08:00:00"  # line 13: a date-time without its offset
    path = write_csv(tmp_path / "bad.csv", rows)
    report = run(region, path, batch=4)
    assert (report.imported, report.rejected) == (2, 12)
    rejects = read_rejects(tmp_path / "bad.csv.rejects.csv")
    assert {line: f for line, (f, _) in rejects.items()} == {
        3: "holder_id",
        4: "type",
        5: "issuer",
        6: "valid_from",
        7: "identifier",
        8: "fields.main_format",
        9: "status",
        10: "holder_id",
        11: "valid_until",
        12: "identifier",
        13: "valid_from",
        15: "identifier",
    }
    assert "GB 32100" in rejects[3][1] and "not authorised" in rejects[5][1]
    assert "already in the library" in rejects[7][1] and "line 14" in rejects[15][1]
    # a citizen licence with a bad resident ID number, and a licence already in the library
    more = [driving_row(390, holders, holder_id=with_bad_last_char(citizen.id_number))]
    more.append(driving_row(391, holders))
    write_jsonl(tmp_path / "more.jsonl", more)
    run(region, tmp_path / "more.jsonl")
    again = run(region, tmp_path / "more.jsonl", resume=False)
    assert (again.imported, again.rejected) == (0, 2)
    rejects = read_rejects(tmp_path / "more.jsonl.rejects.csv")
    assert rejects[1][0] == "holder_id" and "GB 11643" in rejects[1][1]
    assert rejects[2] == ("identifier", "already in the library (imported before?)")


def test_a_bad_identifier_check_is_imported_and_flagged(region: Region, tmp_path: Path) -> None:
    holders = SyntheticHolders(4)
    good = food_row(401, holders)
    bad = food_row(402, holders, identifier=with_bad_check(food_row(402, holders)["identifier"]))
    report = run(region, write_csv(tmp_path / "ids.csv", [good, bad]))
    assert (report.imported, report.rejected) == (2, 0)
    rows = {r.identifier: r for r in region.licence_store.by_issuer("11410100007409378P", limit=1000)}
    assert rows[good["identifier"]].identifier_check_ok is True
    assert rows[bad["identifier"]].identifier_check_ok is False and rows[bad["identifier"]].imported
    with pytest.raises(InvalidFieldError, match="identifier"):
        parse_identifier(bad["identifier"])  # strict parsing still refuses it


def test_a_batch_that_fails_is_halved_until_the_bad_row_stands_alone(
    region: Region, clock: FakeClock, tmp_path: Path
) -> None:
    # The dry run cannot see that 郑州市卫生健康委员会 has no token key left: only the batch's commit fails.
    svc = region.licences
    for key in svc.registry.keys_of(ZZ_HC):
        svc.registry.retire_key(key.kid)
    holders = SyntheticHolders(5)
    before = region.licence_store.count()
    rows = [food_row(n, holders) for n in range(501, 510)]
    rows.insert(6, {**hygiene_row(501, holders), "fields": None})
    flat = [{k: v for k, v in r.items() if k != "fields"} for r in rows]
    flat[6].update({"fields.legal_representative": "赵敏", "fields.address": "郑州市", "fields.licensed_items": "沐浴"})
    keys = sorted({k for r in flat for k in r})
    path = write_csv(tmp_path / "mixed.csv", [{k: r.get(k, "") for k in keys} for r in flat])
    try:
        report = run(region, path, batch=10)
    finally:
        clock.advance(seconds=1)
        svc.registry.ensure_token_keys()  # the other tests need 郑州市卫生健康委员会 again
    assert (report.imported, report.rejected) == (9, 1)
    field, reason = read_rejects(tmp_path / "mixed.csv.rejects.csv")[8]
    assert field == "issuer" and "token key" in reason
    assert region.licence_store.count() == before + 9
    assert ImportStore(region.store.engine).progress(report.file_sha256).lines_done == 11  # type: ignore[union-attr]


def test_resume_after_a_crash_lands_every_row_exactly_once(region: Region, tmp_path: Path) -> None:
    holders = SyntheticHolders(6)
    before = region.licence_store.count()
    rows = [food_row(n, holders) for n in range(601, 624)]
    rows[14]["holder_id"] = with_bad_last_char(rows[14]["holder_id"])  # line 16, in the batch that crashes
    rows[2]["type"] = "nope"  # line 4, before the crash
    path = write_csv(tmp_path / "crash.csv", rows)

    def crash(batch: int) -> None:
        if batch == 3:
            raise Crash

    with pytest.raises(Crash):
        run(region, path, batch=5, in_transaction=crash)
    assert region.licence_store.count() == before + 9  # two batches of five, one of them with a reject
    progress = ImportStore(region.store.engine).progress(import_file_key(region.licences.salt, scan_file(path).sha256))
    assert progress is not None and (progress.lines_done, progress.imported, progress.rejected) == (11, 9, 1)
    assert set(read_rejects(tmp_path / "crash.csv.rejects.csv")) == {4, 16}  # 16 was written, not committed
    report = run(region, path, batch=5)
    assert (report.imported, report.rejected, report.skipped, report.resumed_from) == (12, 1, 10, 11)
    assert region.licence_store.count() == before + 21
    assert set(read_rejects(tmp_path / "crash.csv.rejects.csv")) == {4, 16}  # once each
    done = ImportStore(region.store.engine).progress(report.file_sha256)
    assert done is not None and done.finished and (done.imported, done.rejected) == (21, 2)
    assert run(region, path).skipped == 23  # finished: a third run has nothing to do


def test_the_checkpoint_key_is_keyed_so_a_guessed_file_cannot_be_confirmed(region: Region, tmp_path: Path) -> None:
    """`import_progress` never holds a file's bare SHA-256 (the file has names and ID numbers): an HMAC under the
    region's secret, derived like the idempotency fingerprint key; the same file gives the same key, so it resumes."""
    path = write_csv(tmp_path / "one.csv", [food_row(701, SyntheticHolders(7))])
    report = run(region, path)
    assert report.imported == 1
    bare = hashlib.sha256(path.read_bytes()).hexdigest()
    assert bare == scan_file(path).sha256
    assert report.file_sha256 == import_file_key(region.licences.salt, bare) != bare
    with region.store.engine.connect() as conn:
        keys = set(conn.execute(select(import_progress.c.file_sha256)).scalars())
    assert report.file_sha256 in keys and bare not in keys
    store = ImportStore(region.store.engine)
    assert store.progress(bare) is None  # a guess at the file, hashed, finds nothing
    assert store.progress(report.file_sha256).finished  # type: ignore[union-attr]
    assert import_file_key(b"another region's salt, 32 bytes", bare) != report.file_sha256  # keyed by the secret
    assert run(region, path).skipped == 1  # the same file again: found by its keyed digest, nothing redone
    with pytest.raises(PrivacyError):
        import_file_key(b"short", bare)
    with pytest.raises(InvalidFieldError):
        import_file_key(region.licences.salt, bare.upper())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("identifier,type,issuer,holder_id,holder_name\n", "missing column"),
        ("identifier,type,issuer,holder_id,holder_name,valid_from,colour\n", "colour"),
    ],
)
def test_a_file_that_cannot_be_read_as_a_whole_is_refused(
    region: Region, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFileError, match=message):
        run(region, path)
    with pytest.raises(ImportFileError, match="format"):
        detect_format(tmp_path / "rows.xlsx")


def test_malformed_jsonl_lines_are_rejected_not_fatal(region: Region, tmp_path: Path) -> None:
    holders = SyntheticHolders(7)
    path = tmp_path / "rows.jsonl"
    good = json.dumps(driving_row(701, holders), ensure_ascii=False)
    path.write_text(f"{good}\n{{not json\n[1, 2]\n\n" + json.dumps({**driving_row(702, holders), "colour": 1}) + "\n")
    report = run(region, path)
    assert (report.imported, report.rejected) == (1, 3)
    rejects = read_rejects(tmp_path / "rows.jsonl.rejects.csv")
    assert [rejects[n][0] for n in (2, 3, 5)] == ["line", "line", "colour"]


def test_dates_are_china_midnight_or_explicit_offsets() -> None:
    assert parse_when("2024-02-29", "valid_from").isoformat() == "2024-02-29T00:00:00+08:00"  # type: ignore[union-attr]
    assert parse_when("2024-02-29T10:00:00Z", "valid_from").isoformat() == "2024-02-29T10:00:00+00:00"  # type: ignore[union-attr]
    assert parse_when("  ", "valid_until") is None
    for bad in ("2024-13-01", "29/02/2024", "2024-02-29T10:00"):
        with pytest.raises(InvalidFieldError, match="valid_from"):
            parse_when(bad, "valid_from")


def test_seed_issues_realistic_licences_across_the_catalogue(region: Region) -> None:
    svc = region.licence_store
    service = region.licences
    catalogue = service.catalogue

    def everything() -> dict[str, object]:
        return {str(v.id): v for d in catalogue.departments for v in service.by_issuer(d.uscc, limit=10_000)}

    before = everything()
    reports = list(seed_licences(service, 120, batch=50, seed=11))
    assert [r.licences for r in reports] == [50, 100, 120]
    seeded = [v for k, v in everything().items() if k not in before]
    assert len(seeded) == 120 and svc.count() == len(before) + 120
    for view in seeded:
        assert isinstance(view, LicenceView)
        identifier = parse_identifier(view.identifier)  # strict: the check character is right
        assert catalogue.licence_type(view.type_code).allows(catalogue.department(identifier.issuer))
        assert not view.imported
    assert len({v.type_code for v in seeded if isinstance(v, LicenceView)}) >= 8
    last = reports[-1]
    statuses = [v.status for v in seeded if isinstance(v, LicenceView)]
    assert statuses.count(LicenceStatus.SUSPENDED) == last.suspended
    assert statuses.count(LicenceStatus.REVOKED) == last.revoked
    uses = sum(svc.use_count(v.id) for v in seeded if isinstance(v, LicenceView))
    assert last.uses > 0 and uses == last.uses


def test_the_factory_is_deterministic_and_consistent(region: Region, clock: FakeClock) -> None:
    catalogue = region.licences.catalogue
    one = [LicenceFactory(catalogue, clock(), seed=3).licence() for _ in range(1)]
    first = LicenceFactory(catalogue, clock(), seed=3)
    again = LicenceFactory(catalogue, clock(), seed=3)
    assert [first.licence() for _ in range(30)] == [again.licence() for _ in range(30)]
    assert one[0] == LicenceFactory(catalogue, clock(), seed=3).licence()
    driving = LicenceFactory(catalogue, clock(), seed=4).for_type(catalogue.licence_type("driving-licence"))
    number = driving.request.holder_id
    parse_holder_id(number, HolderKind.CITIZEN)
    born = number[6:14]
    assert driving.request.fields["date_of_birth"] == f"{born[:4]}-{born[4:6]}-{born[6:]}"
    assert driving.request.fields["sex"] == ("男" if int(number[16]) % 2 else "女")


# -- Holder checks: one active licence per holder, one name per number, fields that contradict the holder ---------


def _driving_to(region: Region, holder_id: str, name: str) -> str:
    fields = {**person_fields(holder_id), "address": "郑州市金水区经三路1号", "first_issued_on": "2015-05-01"}
    view = region.licences.issue(
        type_code="driving-licence",
        issuer=TRAFFIC_POLICE,
        holder_id=holder_id,
        holder_name=name,
        fields={**fields, "vehicle_class": "C1"},
    )
    return view.identifier


def test_a_second_active_driving_licence_is_refused_naming_the_first(region: Region) -> None:
    person = SyntheticHolders(seed=9101).citizen()
    first = _driving_to(region, person.id_number, person.name)
    with pytest.raises(HolderAlreadyHoldsError) as exc:
        _driving_to(region, person.id_number, person.name)
    assert exc.value.existing == first and first in str(exc.value)
    with pytest.raises(HolderAlreadyHoldsError):  # under another name neither
        _driving_to(region, person.id_number, "冒名者")
    svc = region.licences
    svc.revoke(svc.resolve(first), actor=TRAFFIC_POLICE, reason="依申请注销", kind=RevocationKind.VOLUNTARY)
    assert _driving_to(region, person.id_number, person.name) != first  # once revoked, a new one may be issued


def test_concurrent_issues_for_one_holder_land_once(region: Region) -> None:
    """The check runs inside the issuing unit of work, which holds the log's writer lock: two clerks issuing the same
    person a driving licence at the same moment get one licence and one refusal, on both databases."""
    person = SyntheticHolders(seed=9104).citizen()
    outcomes: list[str] = []

    def clerk() -> None:
        try:
            outcomes.append(_driving_to(region, person.id_number, person.name))
        except HolderAlreadyHoldsError:
            outcomes.append("refused")

    clerks = [threading.Thread(target=clerk) for _ in range(4)]
    for t in clerks:
        t.start()
    for t in clerks:
        t.join()
    assert sorted(o == "refused" for o in outcomes) == [False, True, True, True], outcomes


def test_a_holder_number_keeps_its_name_on_types_one_may_hold_several_of(region: Region) -> None:
    company = SyntheticHolders(seed=9102).organisation()
    issue = region.licences.issue
    issue(
        type_code="food-business-licence",
        issuer="zz-amr",
        holder_id=company.uscc,
        holder_name=company.name,
        fields=FOOD,
    )
    issue(
        type_code="food-business-licence",
        issuer="zz-amr",
        holder_id=company.uscc,
        holder_name=company.name,
        fields=FOOD,
    )
    with pytest.raises(InvalidFieldError) as exc:
        issue(
            type_code="food-business-licence",
            issuer="zz-amr",
            holder_id=company.uscc,
            holder_name="别家公司",
            fields=FOOD,
        )
    assert exc.value.field == "holder_name" and "another name" in exc.value.reason


def test_import_rejects_contradicting_rows_and_second_licences_naming_the_field(region: Region, tmp_path: Path) -> None:
    holders = SyntheticHolders(seed=9103)
    good = driving_row(9101, holders)
    wrong_sex = driving_row(9102, holders)
    wrong_sex["fields"]["sex"] = "女" if wrong_sex["fields"]["sex"] == "男" else "男"
    wrong_birth = driving_row(9103, holders)
    wrong_birth["fields"]["date_of_birth"] = "1901-01-01"
    before_birth = driving_row(9104, holders)
    before_birth["fields"]["first_issued_on"] = "1900-01-01"
    second = driving_row(9105, holders, holder_id=good["holder_id"], holder_name=good["holder_name"])
    second["fields"].update(person_fields(good["holder_id"]))
    revoked_earlier = driving_row(9106, holders, holder_id=good["holder_id"], holder_name=good["holder_name"])
    revoked_earlier["fields"].update(person_fields(good["holder_id"]))
    revoked_earlier["status"] = "注销"
    revoked_earlier["status_reason"] = "换证"
    rows = [good, wrong_sex, wrong_birth, before_birth, second, revoked_earlier]
    for row in rows:
        row["valid_until"] = "2032-07-01"  # active at the test clock
    report = run(region, write_jsonl(tmp_path / "drivers.jsonl", rows), batch=10)
    assert (report.imported, report.rejected) == (2, 4)
    rejects = read_rejects(tmp_path / "drivers.jsonl.rejects.csv")
    assert {line: f for line, (f, _) in rejects.items()} == {
        2: "fields.sex",
        3: "fields.date_of_birth",
        4: "fields.first_issued_on",
        5: "holder_id",
    }
    assert good["identifier"] in rejects[5][1]
