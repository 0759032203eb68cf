"""Licence QR tokens: offline verification rate against bare Ed25519, plus token size and QR version.

Baseline, measured in the same run: `cryptography`'s Ed25519 verify of the very Sig_structure bytes our verifier
checks (the floor any COSE verifier pays). Ours adds strict deterministic-CBOR parsing, the trust-list lookup, key
lifecycle, issuer/type and validity-period checks. Run: `python -m bench.bench_tokens [--quick]`.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signatures.cose import Ed25519Signer, LicenceClaims, sig_structure, sign_token, token_url
from signatures.keyring import KeyRecord
from signatures.note import NoteSigner
from signatures.offline import verify_licence_token
from signatures.qr import qr_version_for
from signatures.trustlist import TrustedIssuer, TrustList, build_trust_list

ISSUER = "11430000006122244L"
TYPE = "11100000000013338W011"
ORIGIN = "ledger.ha.gov.example/log"
BASE_URL = "https://ledger.ha.gov.example"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
GOAL_TOKEN_BYTES = 250
GOAL_QR_VERSION = 12


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def _claims(serial: int) -> LicenceClaims:
    """A typical licence: full 73-character identifier, five-year validity."""
    identifier = f"1.2.156.3005.2.{TYPE}.{ISSUER}.{20230000000 + serial}.001.U"
    issued = int((NOW - timedelta(days=30)).timestamp())
    return LicenceClaims(
        issuer=ISSUER,
        subject=identifier,
        issued_at=issued,
        not_before=issued,
        expires_at=issued + 5 * 365 * 86400,
        licence_type=TYPE,
        version=1,
        holder_digest=hashlib.sha256(f"salt|{serial}".encode()).digest()[:16],
        leaf_index=1_000_000 + serial,
        log_origin=ORIGIN,
    )


def _trust_list(signer: Ed25519Signer) -> TrustList:
    record = KeyRecord.from_public_key(signer.private_key.public_key(), ISSUER, NOW - timedelta(days=365))
    return build_trust_list(
        region_code="HA",
        region_name="河南省",
        log_origin=ORIGIN,
        log_verifier_key=NoteSigner(ORIGIN, _key("log")).verifier.to_string(),
        issuers=[TrustedIssuer(ISSUER, "河南省市场监督管理局", (TYPE,), (record,))],
        issued_at=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=7),
    )


def _per_item(fn: Callable[[int], object], items: int) -> float:
    start = time.perf_counter()
    for i in range(items):
        fn(i)
    return (time.perf_counter() - start) / items


def _compare(
    ours: Callable[[int], object], base: Callable[[int], object], items: int, runs: int
) -> tuple[float, float]:
    """Medians over `runs` of seconds per call; ours and baseline alternate so machine load hits both alike."""
    ours_times, base_times = [], []
    for _ in range(runs):
        ours_times.append(_per_item(ours, items))
        base_times.append(_per_item(base, items))
    return statistics.median(ours_times), statistics.median(base_times)


def _row(name: str, ours: float, base: float, unit: str, notes: str) -> dict[str, object]:
    row: dict[str, object] = {"name": name, "ours_median_s": ours, "baseline_median_s": base}
    return row | {"ratio": ours / base, "unit": unit, "notes": notes}


def run(quick: bool) -> list[dict[str, object]]:
    """Benchmark rows: verify and sign per token (ours vs bare Ed25519), token bytes and QR version vs goals."""
    items, runs = (50, 3) if quick else (500, 7)
    signer = Ed25519Signer(_key("issuer"))
    public = signer.private_key.public_key()
    trust_list = _trust_list(signer)
    tokens = [sign_token(_claims(i), signer) for i in range(items)]
    urls = [token_url(BASE_URL, t) for t in tokens]
    parts = [cbor2.loads(t).value for t in tokens]
    to_be_signed = [sig_structure(p[0], p[2]) for p in parts]
    signatures = [p[3] for p in parts]

    def base_verify(i: int) -> None:
        public.verify(signatures[i], to_be_signed[i])

    def ours_verify(i: int) -> None:
        verify_licence_token(tokens[i], trust_list, NOW)

    def ours_url(i: int) -> None:
        verify_licence_token(urls[i], trust_list, NOW)

    verify_s, base_v1 = _compare(ours_verify, base_verify, items, runs)
    url_s, base_v2 = _compare(ours_url, base_verify, items, runs)
    claims = [_claims(i) for i in range(items)]
    ours_sign, base_sign = _compare(
        lambda i: sign_token(claims[i], signer), lambda i: signer.private_key.sign(to_be_signed[i]), items, runs
    )
    size = statistics.median(len(t) for t in tokens)
    version = qr_version_for(urls[0])  # every URL here has the same length
    return [
        _row("token verify offline", verify_s, base_v1, "s/token", f"{1 / verify_s:,.0f} tokens/s"),
        _row("token verify from /v/ URL", url_s, base_v2, "s/token", f"{1 / url_s:,.0f} tokens/s"),
        _row("token sign", ours_sign, base_sign, "s/token", f"{1 / ours_sign:,.0f} tokens/s"),
        _row("token size", size, GOAL_TOKEN_BYTES, "bytes", f"ours vs goal; URL {len(urls[0])} bytes"),
        _row("QR version (EC M, byte mode)", version, GOAL_QR_VERSION, "version", "ours vs goal"),
    ]


def main() -> None:
    """Print the rows as a table."""
    rows = run(quick="--quick" in sys.argv[1:])
    print(f"{'name':32} {'ours':>12} {'baseline':>12} {'ratio':>7} {'unit':>8}  notes")
    for r in rows:
        ours, base, ratio = float(r["ours_median_s"]), float(r["baseline_median_s"]), float(r["ratio"])  # type: ignore[arg-type]
        fmt = ".2e" if r["unit"] == "s/token" else ".0f"
        print(f"{r['name']:32} {ours:>12{fmt}} {base:>12{fmt}} {ratio:7.2f} {r['unit']:>8}  {r['notes']}")


if __name__ == "__main__":
    main()
