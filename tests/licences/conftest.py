"""Fixtures for the licence domain: the packaged catalogue, a key vault, a salt and a fixed clock reading."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from licences.catalogue import Catalogue, load_catalogue
from licences.domain import Licence
from licences.privacy import HolderData, InMemoryHolderKeyVault

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
SALT = b"region-410000-salt-for-tests"
COMPANY = HolderData("郑州鼎盛商贸有限公司", "91350100M000100Y43")
FOOD_FIELDS = {
    "legal_representative": "张伟",
    "premises": "郑州市金水区花园路1号",
    "main_format": "餐饮服务经营者",
    "business_items": "热食类食品制售",
}


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def vault() -> InMemoryHolderKeyVault:
    counter = iter(range(1, 1_000_000))
    return InMemoryHolderKeyVault(key_factory=lambda: next(counter).to_bytes(32, "big"))


@pytest.fixture
def issue(catalogue: Catalogue, vault: InMemoryHolderKeyVault) -> Callable[..., Licence]:
    """Issue a licence with sensible defaults (a 食品经营许可证 by 郑州市市场监督管理局); override any argument."""

    def _issue(**overrides: Any) -> Licence:
        holder = overrides.get("holder", COMPANY)
        kwargs: dict[str, Any] = {
            "licence_type": catalogue.licence_type("food-business-licence"),
            "issuer": catalogue.department("zz-amr"),
            "serial": "20240000001",
            "holder": holder,
            "holder_key": vault.get_or_create(holder.id_number),
            "holder_salt": SALT,
            "fields": FOOD_FIELDS,
            "valid_from": T0,
            "now": T0,
        }
        kwargs.update(overrides)
        return Licence.issue(**kwargs)

    return _issue
