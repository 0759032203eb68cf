"""Benchmark of licence-free handling (免证办): one lookup for a matter against one verify-and-use, in the same run.

A company holds five licences (营业执照, 食品经营许可证, 卫生许可证, 道路运输经营许可证, 排污许可证); the matter
食品经营许可（延续） needs two of them. Ours: `POST /v1/matters/410100-SPJY-002/licences` (find the holder's
licences, record two uses in one transaction, prove two statuses, sign a checkpoint covering the uses, four inclusion
proofs). Baseline: `POST /v1/licences/{id}/verify` for one of the two (one use, one status proof, a checkpoint, two
inclusion proofs). Both in process (FastAPI's TestClient) on one SQLite region in a temporary directory, alternated
request by request so that machine noise hits both alike. Goal: ratio ≤ 2.5.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from trustledger.region import Region, init_region
from trustledger.settings import Settings
from verify_api.apikeys import Role
from verify_api.app import create_app
from verify_api.store import ApiKeyStore

MATTER = "410100-SPJY-002"
COMPANY_ID, COMPANY_NAME = "91350100M000100Y43", "郑州鼎盛商贸有限公司"
LICENCES: list[tuple[str, str, dict[str, str]]] = [
    ("business-licence", "zz-amr", {"legal_representative": "张伟", "address": "郑州市金水区花园路1号"}),
    (
        "food-business-licence",
        "zz-amr",
        {
            "legal_representative": "张伟",
            "premises": "郑州市金水区花园路1号",
            "main_format": "餐饮服务经营者",
            "business_items": "热食类食品制售",
        },
    ),
    (
        "hygiene-licence",
        "zz-hc",
        {"legal_representative": "张伟", "address": "郑州市金水区", "licensed_items": "公共场所"},
    ),
    (
        "road-transport-licence",
        "zz-transport",
        {"legal_representative": "张伟", "address": "郑州市管城区", "business_scope": "普通货运"},
    ),
    (
        "pollutant-discharge-permit",
        "zz-eeb",
        {
            "legal_representative": "张伟",
            "production_address": "郑州市中牟县",
            "industry_category": "餐饮业",
            "management_category": "简化管理",
            "main_pollutants": "废水",
        },
    ),
]
BODY = {"holder_id": COMPANY_ID, "consent": "授权书 SQ-2026-0001", "purpose": "食品经营许可延续"}


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    return elapsed


def _setup(home: Path) -> tuple[Region, str, str]:
    """A region with the five licences; (region, verifier key, id of the food business licence)."""
    region = init_region(
        Settings(home=home, database_url=f"sqlite:///{home / 'trustledger.db'}", public_rate_limit=0), None, None, None
    )
    views = [
        region.licences.issue(type_code=t, issuer=i, holder_id=COMPANY_ID, holder_name=COMPANY_NAME, fields=f)
        for t, i, f in LICENCES
    ]
    key = ApiKeyStore(region.store.engine).create(Role.VERIFIER, "郑州市一网通办审批系统", "", region.clock()).key
    return region, key, str(views[1].id)


def run(quick: bool) -> list[dict[str, Any]]:
    """Median latency of a lookup (5 licences held, 2 needed) and of a single verify-and-use, and their ratio."""
    reps = 20 if quick else 200
    with tempfile.TemporaryDirectory(prefix="bench-matters-") as tmp:
        region, key, food_id = _setup(Path(tmp) / "home")
        auth = {"Authorization": f"Bearer {key}"}
        verify_body = {"matter_code": MATTER, "purpose": BODY["purpose"], "consent": BODY["consent"]}
        try:
            with TestClient(create_app(region)) as http:
                lookup = lambda: http.post(f"/v1/matters/{MATTER}/licences", json=BODY, headers=auth)  # noqa: E731
                verify = lambda: http.post(f"/v1/licences/{food_id}/verify", json=verify_body, headers=auth)  # noqa: E731
                assert len(lookup().json()["licences"]) == 2  # the matter needs two of the five
                for _ in range(5):  # warm caches, connections, the catalogue
                    _timed(lookup), _timed(verify)
                ours, base = [], []
                for _ in range(reps):
                    ours.append(_timed(lookup))
                    base.append(_timed(verify))
        finally:
            region.close()
    ours_m, base_m = statistics.median(ours), statistics.median(base)
    return [
        {
            "name": "matter lookup (5 held, 2 needed) vs verify",
            "ours_median_s": ours_m,
            "baseline_median_s": base_m,
            "ratio": ours_m / base_m,
            "notes": f"in-process SQLite, {reps} alternated requests each; goal ratio <= 2.5",
        }
    ]
