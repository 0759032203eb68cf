"""The token benchmark runs in quick mode, reports its rows, and pins the typical token's size and QR version."""

from __future__ import annotations

import cbor2

from bench.bench_tokens import BASE_URL, _key, run, size_options, typical_claims
from signatures.cose import Ed25519Signer, decode_token, sign_token, token_url
from signatures.qr import qr_version_for


def test_quick_run_reports_every_row() -> None:
    rows = run(quick=True)
    by_name = {str(r["name"]): r for r in rows}
    assert rows[0]["name"] == "token verify offline"
    for row in rows:
        assert {"name", "ours_median_s", "baseline_median_s", "ratio", "unit", "notes"} <= set(row)
        assert float(row["ratio"]) > 0  # type: ignore[arg-type]
    # ADR 0004: DESIGN §6 kept as it is; the typical licence is 279 bytes (273 without exp) and QR version 15.
    assert by_name["token size, five-year licence"]["ours_median_s"] == 279
    assert by_name["token size, no-expiry licence"]["ours_median_s"] == 273
    assert by_name["QR version (EC M, byte), five-year licence"]["ours_median_s"] == 15


def test_typical_token_is_plain_cose_sign1_with_every_design_claim() -> None:
    """What an independent checker does: plain cbor2, no help from our decoder, every claim key of DESIGN §6."""
    token = sign_token(typical_claims(), Ed25519Signer(_key("issuer")))
    outer = cbor2.loads(token)
    assert outer.tag == 18 and len(outer.value) == 4
    protected, unprotected, payload, signature = outer.value
    assert cbor2.loads(protected) == {1: -8, 4: Ed25519Signer(_key("issuer")).kid} and unprotected == {}
    claims = cbor2.loads(payload)
    assert set(claims) == {1, 2, 4, 5, 6, "typ", "ver", "hd", "li", "rg"}
    assert claims[2] == typical_claims().subject and len(claims["hd"]) == 16 and len(signature) == 64
    assert decode_token(token)[1] == typical_claims()
    assert qr_version_for(token_url(BASE_URL, token)) == 15


def test_size_options_table_of_adr_0004() -> None:
    table = {name: (size, version) for name, size, _, version in size_options()}
    assert table["DESIGN §6 as shipped (kid 8 bytes)"] == (279, 15)
    assert table["DESIGN §6 as shipped, demo origin and base URL"] == (289, 16)
    assert min(version for _, version in table.values()) == 12  # reachable only with both format changes
    assert table["decimal URL + sub relative to iss"][1] == 12
