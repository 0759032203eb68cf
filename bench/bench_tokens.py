"""Licence QR tokens: offline verification rate against bare Ed25519, plus token size and QR version.

Baseline, measured in the same run: `cryptography`'s Ed25519 verify of the very Sig_structure bytes our verifier
checks (the floor any COSE verifier pays). Ours is the whole offline path of `verify_licence_token`: strict
deterministic-CBOR parsing, trust-list key lookup, key lifecycle at signing time, issuer/type and validity-period
checks, and the signature. Token bytes and QR versions are for a typical licence with a realistic public base URL
(`https://zw.ha.gov.cn`) and log origin (`zw.ha.gov.cn/log`).

Run: `python -m bench.bench_tokens [--quick]`; `python -m bench.bench_tokens --options` prints the size table of
docs/adr/0004-qr-token-size.md (each design option measured on the same typical licence).
"""

from __future__ import annotations

import base64
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

ISSUER = "11410000005164805L"  # 河南省市场监督管理局 (demo USCC)
TYPE_NO_EXPIRY = "11100000000013338W001"  # 营业执照: no expiry
TYPE_FIVE_YEARS = "11100000000013338W012"  # 食品生产许可证: five years
ORIGIN = "zw.ha.gov.cn/log"
BASE_URL = "https://zw.ha.gov.cn"
DEMO_BASE_URL, DEMO_ORIGIN = "https://ledger.ha.gov.example", "ledger.ha.gov.example/log"  # the demo region's
NOW = datetime(2026, 11, 21, tzinfo=UTC)
LEAF = 3_460_000  # a city library's worth of licences: a 5-byte CBOR integer, like most real leaf indexes
GOAL_TOKEN_BYTES = 250
GOAL_QR_VERSION = 12
GOAL_RATE_RATIO = 0.7


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def identifier(type_code: str, serial: int, check: str = "W") -> str:
    """A licence identifier of the real shape (DESIGN §5): 73 characters with an 11-digit serial."""
    return f"1.2.156.3005.2.{type_code}.{ISSUER}.{20260000000 + serial}.001.{check}"


def typical_claims(serial: int = 1, *, expires: bool = True, origin: str = ORIGIN) -> LicenceClaims:
    """A typical licence: full identifier, 16-byte holder digest, leaf ~3.46 M, five-year validity (or none)."""
    issued = int((NOW - timedelta(days=30)).timestamp())
    type_code = TYPE_FIVE_YEARS if expires else TYPE_NO_EXPIRY
    return LicenceClaims(
        issuer=ISSUER,
        subject=identifier(type_code, serial),
        issued_at=issued,
        not_before=issued,
        expires_at=issued + 5 * 365 * 86400 if expires else None,
        licence_type=type_code,
        version=1,
        holder_digest=hashlib.sha256(f"salt|{serial}".encode()).digest()[:16],
        leaf_index=LEAF + serial,
        log_origin=origin,
    )


def _trust_list(signer: Ed25519Signer) -> TrustList:
    record = KeyRecord.from_public_key(signer.private_key.public_key(), ISSUER, NOW - timedelta(days=365))
    types = (TYPE_NO_EXPIRY, TYPE_FIVE_YEARS)
    return build_trust_list(
        region_code="410000",
        region_name="河南省",
        log_origin=ORIGIN,
        log_verifier_key=NoteSigner(ORIGIN, _key("log")).verifier.to_string(),
        issuers=[TrustedIssuer(ISSUER, "河南省市场监督管理局", types, (record,))],
        issued_at=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=7),
    )


def _time(fn: Callable[[int], object], items: range) -> float:
    start = time.perf_counter()
    for i in items:
        fn(i)
    return time.perf_counter() - start


def _compare(
    ours: Callable[[int], object], base: Callable[[int], object], items: int, runs: int, chunk: int = 50
) -> tuple[float, float]:
    """Medians over `runs` of seconds per call. Ours and the baseline alternate every `chunk` calls, so the load of
    a shared machine falls on both alike (a burst of load lands in one chunk pair, not in one side's whole run)."""
    ours_times, base_times = [], []
    for _ in range(runs):
        ours_total = base_total = 0.0
        for first in range(0, items, chunk):
            part = range(first, min(first + chunk, items))
            ours_total += _time(ours, part)
            base_total += _time(base, part)
        ours_times.append(ours_total / items)
        base_times.append(base_total / items)
    return statistics.median(ours_times), statistics.median(base_times)


def _row(name: str, ours: float, base: float, unit: str, notes: str) -> dict[str, object]:
    row: dict[str, object] = {"name": name, "ours_median_s": ours, "baseline_median_s": base}
    return row | {"ratio": ours / base, "unit": unit, "notes": notes}


def _size_rows(signer: Ed25519Signer) -> list[dict[str, object]]:
    rows = []
    for expires, label in ((True, "five-year licence"), (False, "no-expiry licence")):
        token = sign_token(typical_claims(expires=expires), signer)
        url = token_url(BASE_URL, token)
        rows.append(_row(f"token size, {label}", len(token), GOAL_TOKEN_BYTES, "bytes", f"URL {len(url)} bytes"))
        version = qr_version_for(url)
        rows.append(_row(f"QR version (EC M, byte), {label}", version, GOAL_QR_VERSION, "version", BASE_URL))
    demo = token_url(DEMO_BASE_URL, sign_token(typical_claims(origin=DEMO_ORIGIN), signer))
    rows.append(_row("QR version, demo base URL", qr_version_for(demo), GOAL_QR_VERSION, "version", DEMO_BASE_URL))
    return rows


def run(quick: bool) -> list[dict[str, object]]:
    """Rows: verify (ours vs bare Ed25519, time and rate), sign, token bytes and QR versions against the goals."""
    items, runs = (50, 3) if quick else (1000, 9)
    signer = Ed25519Signer(_key("issuer"))
    public = signer.private_key.public_key()
    trust_list = _trust_list(signer)
    tokens = [sign_token(typical_claims(i), signer) for i in range(items)]
    urls = [token_url(BASE_URL, t) for t in tokens]
    parts = [cbor2.loads(t).value for t in tokens]
    to_be_signed = [sig_structure(p[0], p[2]) for p in parts]
    signatures = [p[3] for p in parts]
    verify_licence_token(tokens[0], trust_list, NOW)  # the path under test must accept these tokens

    def base_verify(i: int) -> None:
        public.verify(signatures[i], to_be_signed[i])

    verify_s, base_v1 = _compare(lambda i: verify_licence_token(tokens[i], trust_list, NOW), base_verify, items, runs)
    url_s, base_v2 = _compare(lambda i: verify_licence_token(urls[i], trust_list, NOW), base_verify, items, runs)
    claims = [typical_claims(i) for i in range(items)]
    ours_sign, base_sign = _compare(
        lambda i: sign_token(claims[i], signer), lambda i: signer.private_key.sign(to_be_signed[i]), items, runs
    )
    rate, base_rate = 1 / verify_s, 1 / base_v1
    return [
        _row("token verify offline", verify_s, base_v1, "s/token", f"{rate:,.0f} tokens/s"),
        _row("verify rate vs raw Ed25519 (goal >= 0.7)", rate, base_rate, "/s", "ratio = ours/raw, higher is better"),
        _row("token verify from /v/ URL", url_s, base_v2, "s/token", f"{1 / url_s:,.0f} tokens/s"),
        _row("token sign", ours_sign, base_sign, "s/token", f"{1 / ours_sign:,.0f} tokens/s"),
        *_size_rows(signer),
    ]


# -- the design options of ADR 0004, measured (these encodings are NOT what we ship; only for the table) ------------


def _raw_token(kid_bytes: int, claims: dict[int | str, object], signer: Ed25519Signer) -> bytes:
    protected = cbor2.dumps({1: -8, 4: signer.kid[:kid_bytes]}, canonical=True)
    payload = cbor2.dumps(claims, canonical=True)
    signature = signer.sign(sig_structure(protected, payload))
    return bytes(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]), canonical=True))


def _numeric_qr_version(token: bytes, prefix: str) -> int:
    """QR version of `<prefix><token as one decimal number>`: a byte segment, then a numeric segment."""
    import qrcode
    import qrcode.util

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(qrcode.util.QRData(prefix.encode(), mode=qrcode.util.MODE_8BIT_BYTE), optimize=0)
    digits = str(int.from_bytes(b"\x01" + token, "big")).encode()  # leading 0x01 keeps leading zero bytes
    code.add_data(qrcode.util.QRData(digits, mode=qrcode.util.MODE_NUMBER), optimize=0)
    code.make(fit=True)
    return int(code.version)


def _optimized_qr_version(url: str) -> int:
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url, optimize=4)  # qrcode's mixed-mode segmentation (runs of >= 4 digits/alphanumerics)
    code.make(fit=True)
    return int(code.version)


def size_options() -> list[tuple[str, int, int, int]]:
    """(option, token bytes, URL bytes, QR version at EC M) for each design option on the same licence."""
    signer = Ed25519Signer(_key("issuer"))
    base = typical_claims().to_cbor_map()
    ident = str(base[2])
    relative = ident.removeprefix("1.2.156.3005.2.").replace(f".{ISSUER}.", ".")
    serial_only = ".".join(ident.split(".")[-3:])
    variants: list[tuple[str, int, dict[int | str, object], str]] = [
        ("DESIGN §6 as shipped, demo origin and base URL", 8, {**base, "rg": DEMO_ORIGIN}, DEMO_BASE_URL),
        ("DESIGN §6 as shipped (kid 8 bytes)", 8, dict(base), BASE_URL),
        ("kid 4 bytes", 4, dict(base), BASE_URL),
        ("kid 2 bytes", 2, dict(base), BASE_URL),
        ('"rg" = region code 410000 instead of the origin', 8, {**base, "rg": "410000"}, BASE_URL),
        ("sub without the constant 1.2.156.3005.2. prefix", 8, {**base, 2: ident[15:]}, BASE_URL),
        ("sub relative to iss: <type>.<serial>.<ver>.<check>", 8, {**base, 2: relative}, BASE_URL),
        ("sub = <serial>.<ver>.<check>", 8, {**base, 2: serial_only}, BASE_URL),
        ("sub relative to iss + kid 4 bytes", 4, {**base, 2: relative}, BASE_URL),
    ]
    out = []
    for name, kid_bytes, claims, base_url in variants:
        token = _raw_token(kid_bytes, claims, signer)
        url = f"{base_url}/v/{base64.urlsafe_b64encode(token).rstrip(b'=').decode()}"
        out.append((name, len(token), len(url.encode()), qr_version_for(url)))
    shipped = sign_token(typical_claims(), signer)
    shipped_url = token_url(BASE_URL, shipped)
    out.append(
        ("qrcode optimize=4 (mixed segments) on the shipped URL", len(shipped), -1, _optimized_qr_version(shipped_url))
    )
    rel = _raw_token(8, {**base, 2: relative}, signer)
    out.append(
        (
            "decimal /v/<digits> URL (numeric segment), shipped token",
            len(shipped),
            -1,
            _numeric_qr_version(shipped, BASE_URL + "/v/"),
        )
    )
    out.append(("decimal URL + sub relative to iss", len(rel), -1, _numeric_qr_version(rel, BASE_URL + "/v/")))
    return out


def main() -> None:
    """Print the rows as a table (or the ADR 0004 option table with --options)."""
    if "--options" in sys.argv[1:]:
        print(f"{'option':60} {'token B':>8} {'URL B':>6} {'QR v':>5}")
        for name, size, url, version in size_options():
            print(f"{name:60} {size:>8} {url if url > 0 else '-':>6} {version:>5}")
        return
    rows = run(quick="--quick" in sys.argv[1:])
    print(f"{'name':44} {'ours':>12} {'baseline':>12} {'ratio':>7} {'unit':>8}  notes")
    for r in rows:
        ours, base, ratio = float(r["ours_median_s"]), float(r["baseline_median_s"]), float(r["ratio"])  # type: ignore[arg-type]
        fmt = ".2e" if r["unit"] == "s/token" else ",.0f"
        print(f"{r['name']:44} {ours:>12{fmt}} {base:>12{fmt}} {ratio:7.2f} {r['unit']:>8}  {r['notes']}")


if __name__ == "__main__":
    main()
