"""Synthetic licences for `demo seed`, the demo region and benchmarks: realistic per type, deterministic per seed.

Every type of the catalogue is seeded, issued by one of its authorised departments, to holders from
`SyntheticHolders` (valid resident ID numbers and USCCs, common Chinese names). Validity periods are spread so that some
licences expire within weeks and a few have expired; a few are suspended or revoked, and some are used. Fields follow
each type's schema; a personal field such as a driver's date of birth agrees with the holder's ID number.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import DomainEventProtocol

from clock import CHINA_TIME
from demo.synthetic import HENAN_AREAS, SyntheticCitizen, SyntheticHolders
from ledger.ids import LeafIndex
from licences.application import IssueRequest, LicenceService
from licences.catalogue import Catalogue, FieldRole, FieldSpec, FieldType, FieldValue, LicenceType
from licences.domain import Licence
from licences.identifiers import HolderKind
from licences.import_rows import record_status
from licences.invocation import Invocation
from licences.store import LicenceStore
from licences.values import Lifecycle, RevocationKind

if TYPE_CHECKING:
    from sqlalchemy import Connection

CHINA = CHINA_TIME
# Relative frequency of each type in a city's library (营业执照 and 驾驶证 dominate); unknown types weigh 2.
TYPE_WEIGHTS = {
    "business-licence": 30,
    "driving-licence": 20,
    "food-business-licence": 12,
    "real-estate-certificate": 10,
    "marriage-certificate": 6,
    "birth-medical-certificate": 5,
    "transport-qualification": 4,
    "road-transport-licence": 3,
    "hygiene-licence": 3,
}
SUSPENDED_SHARE = 0.02
REVOKED_SHARE = 0.01
USED_SHARE = 0.05
STREETS = ("花园路", "金水路", "经三路", "农业路", "中州大道", "建设路", "人民路", "嵩山路", "文化路", "东风路")
MATTERS = (
    ("11410100MB0000001A4000111", "开办餐饮店一件事", "核验食品经营许可证"),
    ("11410100MB0000001A4000212", "企业变更登记", "核验营业执照"),
    ("11410100MB0000001A4000305", "不动产抵押登记", "核验不动产权证书"),
    ("11410100MB0000001A4000418", "新生儿出生一件事", "核验出生医学证明"),
    ("11410100MB0000001A4000520", "机动车驾驶人体检", "核验机动车驾驶证"),
)
VERIFIERS = ("河南政务服务网", "郑州市一网通办审批系统", "郑州市不动产登记中心", "金水区政务服务中心")


def _china_midnight(day: date) -> datetime:
    return datetime.combine(day, clock_time(0), CHINA)


@dataclass(frozen=True, slots=True)
class SeedLicence:
    """One synthetic licence to issue, with its recorded status and whether it gets a use."""

    request: IssueRequest
    status: tuple[Lifecycle, RevocationKind, str]
    used: bool


class LicenceFactory:
    """Makes realistic `IssueRequest`s for the catalogue's types; equal seeds give equal sequences."""

    def __init__(self, catalogue: Catalogue, now: datetime, seed: int | str = 0) -> None:
        self.catalogue = catalogue
        self.today = now.astimezone(CHINA).date()
        self.holders = SyntheticHolders(seed)
        self.rng = random.Random(f"licences/{seed}")
        self.types = catalogue.licence_types
        self.weights = [TYPE_WEIGHTS.get(t.key, 2) for t in self.types]

    def licence(self) -> SeedLicence:
        """The next synthetic licence."""
        licence_type = self.rng.choices(self.types, self.weights)[0]
        return self.for_type(licence_type)

    def for_type(self, licence_type: LicenceType) -> SeedLicence:
        """A synthetic licence of one type."""
        department = self.catalogue.department(self.rng.choice(licence_type.issuing_departments))
        citizen, holder_id, holder_name = self._holder(licence_type.holder_kind)
        valid_from, valid_until = self._validity(licence_type, citizen)
        start = valid_from.astimezone(CHINA).date()
        request = IssueRequest(
            type_code=licence_type.code,
            issuer=department.uscc,
            holder_id=holder_id,
            holder_name=holder_name,
            fields={
                s.name: self._value(s, citizen, holder_name, start) for s in licence_type.fields if self._wanted(s)
            },
            valid_from=valid_from,
            valid_until=valid_until,
        )
        return SeedLicence(request, self._status(), self.rng.random() < USED_SHARE)

    def _holder(self, kind: HolderKind) -> tuple[SyntheticCitizen | None, str, str]:
        if kind is HolderKind.CITIZEN or (kind is HolderKind.EITHER and self.rng.random() < 0.8):
            citizen = self.holders.citizen()
            return citizen, citizen.id_number, citizen.name
        organisation = self.holders.organisation()
        return None, organisation.uscc, organisation.name

    def _validity(
        self, licence_type: LicenceType, citizen: SyntheticCitizen | None
    ) -> tuple[datetime, datetime | None]:
        years = licence_type.validity.years
        span = 20 * 365 if years is None else years * 365 + 60  # ~3% of fixed-term licences have expired
        issued = self.today - timedelta(days=self.rng.randrange(span))
        if citizen is not None:  # nobody holds a licence from before they were born
            issued = max(issued, min(_born(citizen), self.today))
        start = _china_midnight(issued)
        return start, licence_type.validity.valid_until(start)

    def _status(self) -> tuple[Lifecycle, RevocationKind, str]:
        draw = self.rng.random()
        if draw < REVOKED_SHARE:
            kind = self.rng.choice((RevocationKind.VOLUNTARY, RevocationKind.PENALTY))
            reason = "依申请注销" if kind is RevocationKind.VOLUNTARY else "违法经营，依法吊销"
            return Lifecycle.REVOKED, kind, reason
        if draw < REVOKED_SHARE + SUSPENDED_SHARE:
            return Lifecycle.SUSPENDED, RevocationKind.VOLUNTARY, "监督检查发现问题，责令整改期间暂扣"
        return Lifecycle.ACTIVE, RevocationKind.VOLUNTARY, ""

    def _wanted(self, spec: FieldSpec) -> bool:
        return spec.required or self.rng.random() < 0.7

    def _value(self, spec: FieldSpec, citizen: SyntheticCitizen | None, holder_name: str, start: date) -> FieldValue:
        if spec.role is FieldRole.PAST_DATE:
            return self.fact_date(citizen, start)
        special = _FIELD_VALUES.get(spec.name)
        if special is not None:
            return special(self, citizen, holder_name)
        if spec.choices:
            return self.rng.choice(spec.choices)
        if spec.type is FieldType.DATE:
            return (self.today - timedelta(days=self.rng.randrange(1, 15 * 365))).isoformat()
        if spec.type is FieldType.INT:
            return self.rng.randrange(1, 500)
        return f"{spec.label_zh}{self.rng.randrange(1, 100):02d}"[: spec.max_length]

    # -- field vocabularies ---------------------------------------------------------------------------------------

    def person(self) -> str:
        """A person's name (a legal representative, a spouse, a parent)."""
        return self.holders.person_name(self.rng.random() < 0.5)

    def address(self) -> str:
        """A street address in 郑州."""
        _, district = self.rng.choice(HENAN_AREAS[:10])
        return f"郑州市{district}{self.rng.choice(STREETS)}{self.rng.randrange(1, 300)}号"

    def fact_date(self, citizen: SyntheticCitizen | None, start: date) -> str:
        """A date that has happened by `start` (the licence's valid_from), after the holder came of age if a person:
        what `licences.holder_checks` demands of a `past_date` field (初次领证日期, 登记日期, 成立日期)."""
        earliest = start - timedelta(days=20 * 365)
        if citizen is not None:
            born = _born(citizen)
            adult = date(born.year + 18, born.month, min(born.day, 28) if born.month == 2 else born.day)
            earliest = max(earliest, min(adult, start), born)
        return (earliest + timedelta(days=self.rng.randrange((start - earliest).days + 1))).isoformat()

    def past_date(self, min_years: int, max_years: int) -> str:
        """An ISO date between `min_years` and `max_years` ago."""
        return (self.today - timedelta(days=self.rng.randrange(min_years * 365, max_years * 365 + 1))).isoformat()


def _sex(f: LicenceFactory, citizen: SyntheticCitizen | None, _: str) -> FieldValue:
    return ("男" if citizen.is_male else "女") if citizen is not None else f.rng.choice(("男", "女"))


def _born(citizen: SyntheticCitizen) -> date:
    digits = citizen.id_number[6:14]
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def _birth(f: LicenceFactory, citizen: SyntheticCitizen | None, _: str) -> FieldValue:
    if citizen is None:
        return f.past_date(18, 60)
    digits = citizen.id_number[6:14]
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"


def _birthplace(f: LicenceFactory, citizen: SyntheticCitizen | None, _: str) -> FieldValue:
    return "河南省人民医院" if f.rng.random() < 0.5 else f"郑州市{f.rng.choice(HENAN_AREAS[:10])[1]}妇幼保健院"


def _spouse_id(f: LicenceFactory, citizen: SyntheticCitizen | None, _: str) -> FieldValue:
    return f.holders.resident_id(None if citizen is None else not citizen.is_male)


_FIELD_VALUES: dict[str, Callable[[LicenceFactory, SyntheticCitizen | None, str], FieldValue]] = {
    "legal_representative": lambda f, c, n: f.person(),
    "principal": lambda f, c, n: f.person(),
    "quality_manager": lambda f, c, n: f.person(),
    "daily_supervisor": lambda f, c, n: f.person(),
    "mother_name": lambda f, c, n: f.holders.person_name(False),
    "father_name": lambda f, c, n: f.holders.person_name(True),
    "spouse_name": lambda f, c, n: f.holders.person_name(c is not None and not c.is_male),
    "spouse_id_number": _spouse_id,
    "sex": _sex,
    "date_of_birth": _birth,
    "born_on": _birth,
    "birthplace": _birthplace,
    "address": lambda f, c, n: f.address(),
    "premises": lambda f, c, n: f.address(),
    "domicile": lambda f, c, n: f.address(),
    "production_address": lambda f, c, n: f.address(),
    "registered_address": lambda f, c, n: f.address(),
    "warehouse_address": lambda f, c, n: f.address(),
    "site_address": lambda f, c, n: f.address(),
    "location": lambda f, c, n: f"{f.address()}{f.rng.randrange(1, 30)}号楼{f.rng.randrange(1, 33)}01室",
    "registered_capital": lambda f, c, n: f"{f.rng.choice((50, 100, 200, 500, 1000, 5000))}万元人民币",
    "contract_start": lambda f, c, n: f.past_date(0, 2),
    "contract_end": lambda f, c, n: (f.today + timedelta(days=f.rng.randrange(180, 900))).isoformat(),
    "business_scope": lambda f, c, n: "一般项目：技术服务、技术开发、技术咨询；日用百货销售（依法须经批准的项目除外）",
    "business_items": lambda f, c, n: f.rng.choice(("热食类食品制售", "预包装食品销售", "冷食类食品制售")),
    "food_category": lambda f, c, n: f.rng.choice(("粮食加工品", "糕点", "饮料", "肉制品")),
    "unit_number": lambda f, c, n: (
        f"410105{f.rng.randrange(10**6):06d}GB{f.rng.randrange(10**5):05d}F{f.rng.randrange(10**8):08d}"[:28]
    ),
    "right_type": lambda f, c, n: "国有建设用地使用权/房屋所有权",
    "right_nature": lambda f, c, n: "出让/市场化商品房",
    "usage": lambda f, c, n: "城镇住宅用地/住宅",
    "area": lambda f, c, n: f"{f.rng.randrange(45, 180)}.{f.rng.randrange(100):02d}平方米",
    "term": lambda f, c, n: f"{2000 + f.rng.randrange(25)}年至{2070 + f.rng.randrange(25)}年",
    "project_name": lambda f, c, n: f"{n}{f.rng.choice(('综合楼', '厂房', '住宅小区一期'))}项目",
    "scale": lambda f, c, n: f"建筑面积{f.rng.randrange(5000, 80000)}平方米",
    "contract_price": lambda f, c, n: f.rng.randrange(500, 50000),
    "beds": lambda f, c, n: f.rng.randrange(0, 800),
    "area_sqm": lambda f, c, n: f.rng.randrange(50, 3000),
    "gestational_weeks": lambda f, c, n: f.rng.randrange(36, 42),
}


# -- seeding ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UseSpec:
    """One use to record in a batch: the licence as just saved, and who used it for what."""

    licence: Licence
    verifier: str
    matter_code: str
    purpose: str


def record_uses(service: LicenceService, uses: Sequence[UseSpec], now: datetime) -> list[LeafIndex]:
    """Record many uses in one transaction (each `LicenceInvoked` in its own stream, its history row with it)."""
    if not uses:
        return []
    events: list[DomainEventProtocol[Any]] = []
    for use in uses:
        invocation = Invocation.record(
            licence=use.licence,
            now=now,
            verifier=use.verifier,
            matter_code=use.matter_code,
            purpose=use.purpose,
            consent="持证人扫码授权",
        )
        events += invocation.collect_events()

    def project(conn: Connection, leaves: Sequence[LeafIndex]) -> None:
        rows = [
            (u.licence.id, leaf, "invoked", u.licence.licence_version) for u, leaf in zip(uses, leaves, strict=True)
        ]
        LicenceStore.add_history(conn, rows)

    return service.recording.save(events, project)


@dataclass
class SeedReport:
    """What `demo seed` did."""

    licences: int = 0
    suspended: int = 0
    revoked: int = 0
    uses: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Licences per second."""
        return self.licences / self.seconds if self.seconds > 0 else 0.0


def seed_licences(
    service: LicenceService, count: int, *, batch: int = 500, seed: int | str = 0
) -> Iterator[SeedReport]:
    """Issue `count` synthetic licences in batches (one transaction each, uses in one more); yields after each."""
    factory = LicenceFactory(service.catalogue, service.clock(), seed)
    report = SeedReport()
    started = service.clock.monotonic()
    while report.licences < count:
        _seed_batch(service, factory, [factory.licence() for _ in range(min(batch, count - report.licences))], report)
        report.seconds = service.clock.monotonic() - started
        yield dataclasses.replace(report)


def _seed_batch(service: LicenceService, factory: LicenceFactory, items: list[SeedLicence], report: SeedReport) -> None:
    saved: list[Licence] = []
    catalogue = service.catalogue

    def then(i: int, licence: Licence, licence_type: LicenceType, now: datetime) -> None:
        record_status(licence, licence_type, catalogue.department(licence.issuer), now, items[i].status)
        saved.append(licence)

    service.issue_batch([i.request for i in items], then=then)
    uses = [_use(factory, licence) for licence, item in zip(saved, items, strict=True) if item.used]
    record_uses(service, uses, service.clock())
    report.licences += len(items)
    report.suspended += sum(1 for i in items if i.status[0] is Lifecycle.SUSPENDED)
    report.revoked += sum(1 for i in items if i.status[0] is Lifecycle.REVOKED)
    report.uses += len(uses)


def _use(factory: LicenceFactory, licence: Licence) -> UseSpec:
    matter, name, purpose = factory.rng.choice(MATTERS)
    return UseSpec(licence, factory.rng.choice(VERIFIERS), matter, f"{name}：{purpose}")
