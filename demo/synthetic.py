"""Deterministic synthetic holders for `demo seed`, benchmarks and tests: same seed, same people and companies.

Resident ID numbers use real 河南 (410xxx) area codes and real birth dates; USCCs carry valid GB 11714 organisation
codes; names follow common surname and given-name frequencies. None of them is a real person's or company's number
except by coincidence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from licences.identifiers import USCC_ALPHABET, resident_id_check_char, uscc_check_char


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# GB/T 2260 county-level codes of 河南 (districts, county-level cities, counties) with their names.
HENAN_AREAS: tuple[tuple[str, str], ...] = (
    ("410102", "中原区"), ("410103", "二七区"), ("410104", "管城回族区"), ("410105", "金水区"), ("410106", "上街区"),
    ("410108", "惠济区"), ("410122", "中牟县"), ("410181", "巩义市"), ("410182", "荥阳市"), ("410183", "新密市"),
    ("410184", "新郑市"), ("410185", "登封市"), ("410202", "龙亭区"), ("410302", "老城区"), ("410305", "涧西区"),
    ("410402", "新华区"), ("410502", "文峰区"), ("410602", "鹤山区"), ("410702", "红旗区"), ("410802", "解放区"),
    ("410902", "华龙区"), ("411002", "魏都区"), ("411102", "源汇区"), ("411202", "湖滨区"), ("411302", "宛城区"),
    ("411402", "梁园区"), ("411502", "浉河区"), ("411602", "川汇区"), ("411702", "驿城区"),
)  # fmt: skip
HENAN_CITIES: tuple[tuple[str, str], ...] = (
    ("410100", "郑州"), ("410200", "开封"), ("410300", "洛阳"), ("410400", "平顶山"), ("410500", "安阳"),
    ("410700", "新乡"), ("410800", "焦作"), ("411000", "许昌"), ("411300", "南阳"), ("411700", "驻马店"),
)  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁宋谢唐韩冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
MALE_GIVEN = _words("伟 强 磊 军 洋 勇 杰 涛 明 超 刚 平 辉 鹏 浩 建国 志强 俊杰 子豪 宇航")
FEMALE_GIVEN = _words("芳 娜 敏 静 丽 艳 娟 霞 秀英 桂英 秀兰 玉兰 丹 婷 雪 欣怡 梓涵 雨桐 佳怡 思琪")
TRADE_NAMES = _words("鼎盛 华信 中原 恒泰 金盾 瑞丰 嵩岳 豫龙 宏达 天成 博远 佳和 安泰 锦程 聚源 万通")
INDUSTRIES = _words("商贸 科技 餐饮管理 建筑工程 物流 医药 食品 环保科技 运输 文化传媒 信息技术 实业")
LEGAL_FORMS = ("有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司")
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_BIRTH_START = date(1950, 1, 1)
_BIRTH_DAYS = (date(2005, 12, 31) - _BIRTH_START).days


@dataclass(frozen=True, slots=True)
class SyntheticCitizen:
    """A synthetic natural person: name, valid resident ID number, sex and area."""

    name: str
    id_number: str
    is_male: bool
    area: str


@dataclass(frozen=True, slots=True)
class SyntheticOrganisation:
    """A synthetic company: name and valid USCC."""

    name: str
    uscc: str
    city: str


def organisation_code_check(body: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body (MOD 11; 10 → X, 11 → 0)."""
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


class SyntheticHolders:
    """A seeded source of realistic synthetic holders; equal seeds give equal sequences."""

    def __init__(self, seed: int | str = 0) -> None:
        self._rng = random.Random(seed)
        self._issued_ids: set[str] = set()

    def resident_id(self, is_male: bool | None = None) -> str:
        """A valid GB 11643 number with a 河南 area code, a real birth date 1950–2005 and the right sex digit; never
        one this generator gave before (one number is one person: the same number under two names is refused)."""
        while True:
            number = self._resident_id(is_male)
            if number not in self._issued_ids:
                self._issued_ids.add(number)
                return number

    def _resident_id(self, is_male: bool | None) -> str:
        area, _ = self._rng.choice(HENAN_AREAS)
        born = _BIRTH_START + timedelta(days=self._rng.randrange(_BIRTH_DAYS + 1))
        sequence = self._rng.randrange(100)
        male = self._rng.random() < 0.5 if is_male is None else is_male
        sex_digit = self._rng.randrange(1 if male else 0, 10, 2)
        body = f"{area}{born:%Y%m%d}{sequence:02d}{sex_digit}"
        return body + resident_id_check_char(body)

    def uscc(self, area_code: str | None = None) -> str:
        """A valid enterprise USCC (91 + area + `MA` organisation code) registered in a 河南 city by default."""
        area = area_code or self._rng.choice(HENAN_CITIES)[0]
        body = "MA" + "".join(self._rng.choice(USCC_ALPHABET) for _ in range(6))
        check = organisation_code_check(body)
        first17 = f"91{area}{body}{check}"
        return first17 + uscc_check_char(first17)

    def person_name(self, is_male: bool) -> str:
        """A common Chinese name of the given sex."""
        return self._rng.choice(SURNAMES) + self._rng.choice(MALE_GIVEN if is_male else FEMALE_GIVEN)

    def company_name(self, city: str) -> str:
        """A plausible company name such as 郑州鼎盛商贸有限公司."""
        return f"{city}{self._rng.choice(TRADE_NAMES)}{self._rng.choice(INDUSTRIES)}{self._rng.choice(LEGAL_FORMS)}"

    def citizen(self) -> SyntheticCitizen:
        """A synthetic citizen whose name matches the sex encoded in the ID number."""
        is_male = self._rng.random() < 0.5
        number = self.resident_id(is_male)
        area = next(name for code, name in HENAN_AREAS if code == number[:6])
        return SyntheticCitizen(self.person_name(is_male), number, is_male, area)

    def organisation(self) -> SyntheticOrganisation:
        """A synthetic company registered in a 河南 city."""
        code, city = self._rng.choice(HENAN_CITIES)
        return SyntheticOrganisation(self.company_name(city), self.uscc(code), city)

    def serial(self, year: int) -> str:
        """A licence serial such as 20240012345: the year, then seven digits."""
        return f"{year}{self._rng.randrange(10**7):07d}"
