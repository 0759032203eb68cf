"""Sample holders and licence fields shared by tests of different packages (one copy, valid for the demo catalogue)."""

from __future__ import annotations

COMPANY_ID, COMPANY_NAME = "91350100M000100Y43", "郑州鼎盛商贸有限公司"
CITIZEN_ID, CITIZEN_NAME = "11010519491231002X", "张三丰"
FOOD = {
    "legal_representative": "张伟",
    "premises": "郑州市金水区花园路1号",
    "main_format": "餐饮服务经营者",
    "business_items": "热食类食品制售",
}
DRIVING = {
    "sex": "女",  # CITIZEN_ID's 17th digit is even (GB 11643): the ID number says female
    "address": "郑州市金水区花园路2号",
    "date_of_birth": "1949-12-31",
    "first_issued_on": "2020-01-02",
    "vehicle_class": "C1",
}


def person_fields(id_number: str) -> dict[str, str]:
    """`sex` and `date_of_birth` as a resident ID number encodes them (GB 11643: digits 7–14, the 17th's parity)."""
    born = id_number[6:14]
    return {"sex": "男" if int(id_number[16]) % 2 else "女", "date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}"}
