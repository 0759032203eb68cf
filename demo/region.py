"""Demo content for a newcomer's region: a handful of named licences that make the README tour work.

`add_demo_licences` is idempotent: each demo licence is issued under a fixed idempotency key and is looked up by it
first, so a second `init --demo` (even on a later day, when the computed dates differ) writes nothing new. Lifecycle
steps and uses carry their own keys too. Holders are synthetic (valid check characters, not real people or companies).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from uuid import UUID

from clock import CHINA_TIME
from demo.synthetic import SyntheticHolders
from licences.application import IDEMPOTENCY_SCOPE, LicenceService, LicenceView
from licences.store import LicenceStore
from licences.values import LicenceId

CHINA = CHINA_TIME
_holders = SyntheticHolders("trustledger-demo")
COMPANY = ("郑州鼎盛商贸有限公司", _holders.uscc("410100"))
TRANSPORT_COMPANY = ("郑州恒泰物流有限公司", _holders.uscc("410100"))
CITIZEN = ("张伟", _holders.resident_id(is_male=True))
SPOUSE = ("李娜", _holders.resident_id(is_male=False))
BATHHOUSE = ("郑州金盾文化传媒有限公司", _holders.uscc("410100"))


@dataclass(frozen=True)
class DemoLicence:
    """One named demo licence: what to issue, and what happens to it afterwards."""

    name: str
    type_code: str
    issuer: str
    holder: tuple[str, str]
    fields: Mapping[str, str]
    valid_from_days: int = -365
    valid_until_days: int | None = None
    lifecycle: tuple[str, str] | None = None
    uses: tuple[tuple[str, str, str], ...] = field(default=())


DEMO_LICENCES = (
    DemoLicence(
        "business-licence",
        "business-licence",
        "zz-amr",
        COMPANY,
        {
            "enterprise_type": "有限责任公司(自然人投资或控股)",
            "legal_representative": "张伟",
            "registered_capital": "500万元人民币",
            "established_on": "2019-06-18",
            "address": "郑州市金水区花园路1号",
            "business_scope": "一般项目：日用百货销售；食品销售（仅销售预包装食品）",
        },
        valid_from_days=-2000,
        uses=(("郑州市一网通办审批系统", "11410100MB0000001A4000212", "企业变更登记：核验营业执照"),),
    ),
    DemoLicence(
        "food-business-licence",
        "food-business-licence",
        "jinshui-amr",
        COMPANY,
        {
            "legal_representative": "张伟",
            "premises": "郑州市金水区花园路1号",
            "main_format": "餐饮服务经营者",
            "business_items": "热食类食品制售",
        },
        valid_from_days=-(5 * 365 - 21),
        valid_until_days=21,  # inside the 30-day reminder window: `trustledger remind --once` has work to do
        uses=(("金水区政务服务中心", "11410100MB0000001A4000111", "开办餐饮店一件事：核验食品经营许可证"),),
    ),
    DemoLicence(
        "driving-licence",
        "driving-licence",
        "zz-traffic-police",
        CITIZEN,
        {
            "sex": "男",
            "address": "郑州市金水区经三路66号",
            "date_of_birth": f"{CITIZEN[1][6:10]}-{CITIZEN[1][10:12]}-{CITIZEN[1][12:14]}",
            "first_issued_on": "2012-09-03",
            "vehicle_class": "C1",
        },
        valid_from_days=-800,
        uses=(("郑州市一网通办审批系统", "11410100MB0000001A4000520", "机动车驾驶人体检：核验机动车驾驶证"),),
    ),
    DemoLicence(
        "marriage-certificate",
        "marriage-certificate",
        "jinshui-civil-affairs",
        CITIZEN,
        {"registered_on": "2016-05-20", "spouse_name": SPOUSE[0], "spouse_id_number": SPOUSE[1]},
        valid_from_days=-3000,
    ),
    DemoLicence(
        "road-transport-licence-suspended",
        "road-transport-licence",
        "zz-transport",
        TRANSPORT_COMPANY,
        {
            "legal_representative": "王强",
            "address": "郑州市管城回族区中州大道88号",
            "business_scope": "道路普通货物运输",
        },
        valid_from_days=-500,
        lifecycle=("suspend", "监督检查发现车辆技术状况不合格，责令整改期间暂扣"),
    ),
    DemoLicence(
        "hygiene-licence-revoked",
        "hygiene-licence",
        "zz-hc",
        BATHHOUSE,
        {"legal_representative": "赵敏", "address": "郑州市二七区建设路20号", "licensed_items": "沐浴场所"},
        valid_from_days=-400,
        lifecycle=("revoke", "卫生状况严重不合格，依法吊销"),
        uses=(("郑州市一网通办审批系统", "11410100MB0000001A4000111", "经营场所核验：核验卫生许可证"),),
    ),
)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, clock_time(0), CHINA)


def _issue(svc: LicenceService, store: LicenceStore, demo: DemoLicence, today: date) -> LicenceView:
    key = f"demo/{demo.name}"
    known = store.idempotent_result(IDEMPOTENCY_SCOPE, key)
    if known is not None:  # issued by an earlier run (whose computed dates may differ from today's)
        return svc.get(LicenceId(UUID(known[1]["licence_id"])))  # our stored result, from a `LicenceId`
    return svc.issue(
        type_code=demo.type_code,
        issuer=demo.issuer,
        holder_id=demo.holder[1],
        holder_name=demo.holder[0],
        fields=demo.fields,
        valid_from=_midnight(today + timedelta(days=demo.valid_from_days)),
        valid_until=None if demo.valid_until_days is None else _midnight(today + timedelta(days=demo.valid_until_days)),
        idempotency_key=key,
    )


def add_demo_licences(svc: LicenceService, store: LicenceStore, now: datetime) -> dict[str, str]:
    """Add the demo licences (idempotent), dated around `now` in China time; returns {demo name: licence id}."""
    today = now.astimezone(CHINA).date()
    ids: dict[str, str] = {}
    for demo in DEMO_LICENCES:
        view = _issue(svc, store, demo, today)
        key = f"demo/{demo.name}"
        if demo.lifecycle is not None:
            command, reason = demo.lifecycle
            if command == "suspend":
                svc.suspend(view.id, actor=demo.issuer, reason=reason, idempotency_key=f"{key}/suspend")
            else:
                svc.revoke(view.id, actor=demo.issuer, reason=reason, kind="penalty", idempotency_key=f"{key}/revoke")
        for n, (verifier, matter, purpose) in enumerate(demo.uses):
            svc.use(
                view.id,
                verifier=verifier,
                matter_code=matter,
                purpose=purpose,
                consent="持证人扫码授权",
                idempotency_key=f"{key}/use/{n}",
            )
        ids[demo.name] = str(view.id)
    return ids
