"""Source rows for the bulk-import tests: existing licences with valid identifiers and holders, and file writers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from demo.synthetic import SyntheticHolders
from licences.identifiers import make_identifier

FOOD = "11100000000013338W011"
DRIVING = "11100000001407312X001"
ZZ_AMR = "11410100007409378P"
TRAFFIC_POLICE = "11410100003615377U"
ZZ_HC = "114101000076953358"
HYGIENE = "11100000008985350K003"


def food_row(n: int, holders: SyntheticHolders, **overrides: Any) -> dict[str, Any]:
    """An existing food business licence (serial 2019nnnnnnn) as a flat CSV-style row."""
    row: dict[str, Any] = {
        "identifier": str(make_identifier(FOOD, ZZ_AMR, f"2019{n:07d}", 1)),
        "type": "food-business-licence",
        "issuer": "zz-amr",
        "holder_id": holders.uscc(),
        "holder_name": "郑州鼎盛商贸有限公司",
        "valid_from": "2021-03-01",
        "valid_until": "",
        "status": "",
        "fields.legal_representative": "张伟",
        "fields.premises": "郑州市金水区花园路1号",
        "fields.main_format": "餐饮服务经营者",
        "fields.business_items": "热食类食品制售",
    }
    row.update(overrides)
    return row


def driving_row(n: int, holders: SyntheticHolders, **overrides: Any) -> dict[str, Any]:
    """An existing driving licence in the nested JSON-lines shape."""
    citizen = holders.citizen()
    born = citizen.id_number[6:14]
    row: dict[str, Any] = {
        "identifier": str(make_identifier(DRIVING, TRAFFIC_POLICE, f"2020{n:07d}", 2)),
        "type": DRIVING,
        "issuer": TRAFFIC_POLICE,
        "holder_id": citizen.id_number,
        "holder_name": citizen.name,
        "valid_from": "2020-07-01T00:00:00+08:00",
        "valid_until": "2026-07-01",
        "fields": {
            "sex": "男" if citizen.is_male else "女",
            "address": "郑州市金水区经三路66号",
            "date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}",
            "first_issued_on": "2014-07-01",
            "vehicle_class": "C1",
        },
    }
    row.update(overrides)
    return row


def hygiene_row(n: int, holders: SyntheticHolders, **overrides: Any) -> dict[str, Any]:
    """An existing public-place hygiene licence issued by 郑州市卫生健康委员会 (an int field as an int)."""
    row: dict[str, Any] = {
        "identifier": str(make_identifier(HYGIENE, ZZ_HC, f"2022{n:07d}", 1)),
        "type": "hygiene-licence",
        "issuer": "zz-hc",
        "holder_id": holders.uscc(),
        "holder_name": "郑州金盾文化传媒有限公司",
        "valid_from": "2022-05-01",
        "valid_until": "2026-05-01",
        "fields": {"legal_representative": "赵敏", "address": "郑州市二七区建设路20号", "licensed_items": "沐浴场所"},
    }
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows (all with the same keys) as a UTF-8 CSV with a header."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSON lines."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_rejects(path: Path) -> dict[int, tuple[str, str]]:
    """{line: (field, reason)} of a CSV rejects file."""
    with path.open(encoding="utf-8", newline="") as f:
        return {int(r["line"]): (r["field"], r["reason"]) for r in csv.DictReader(f)}


def with_bad_check(identifier: str) -> str:
    """The identifier with a wrong check character."""
    return identifier[:-1] + ("A" if identifier[-1] != "A" else "B")


def with_bad_last_char(number: str) -> str:
    """A holder number whose check character is wrong."""
    return number[:-1] + ("1" if number[-1] != "1" else "2")
