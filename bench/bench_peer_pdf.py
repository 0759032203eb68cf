"""Mutual recognition of seals: region B checking region A's sealed licence PDF against A checking its own.

Two `trustledger serve` processes on loopback (SQLite, rate limit off), B peered with A, synced, recognising A's
business licences. A issues licences and seals their PDFs; each PDF is posted to `POST /v1/verify/pdf` of B (ours:
A's trust list, its `DocumentSealed` proven on A's log, A's status map proof — two or three HTTP round trips to A)
and of A (baseline: the same seven checks against its own registry and ledger), request by request, interleaved.
The first check of each PDF in B also fetches and proves its leaves; it is reported apart.

Run: `python -m bench peer_pdf [--quick]`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.bench_anchors import XR_BUSINESS, _interleaved, _issue_tokens, _Region, _row, _start, two_regions


def _sealed_pdfs(a: _Region, tokens: list[str], directory: Path) -> list[bytes]:
    out = []
    for n, qr_url in enumerate(tokens):
        identifier = a.cli("verify", qr_url)["token"]["sub"]
        path = directory / f"{n}.pdf"
        a.cli("licence", "pdf", identifier, "-o", str(path))
        out.append(path.read_bytes())
    a.cli("log", "checkpoint")
    return out


def _pdf_timer(client: httpx.Client, url: str, key: str, region: str) -> Callable[[bytes], float]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/pdf"}

    def post(pdf: bytes) -> float:
        start = time.perf_counter()
        response = client.post(url + "/v1/verify/pdf", content=pdf, headers=headers)
        elapsed = time.perf_counter() - start
        answer = response.json()
        if response.status_code != 200 or not answer["valid"] or answer["source"]["region"] != region:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        return elapsed

    return post


def run(quick: bool) -> list[dict[str, Any]]:
    """Rows: B checking A's sealed PDF against A checking it, over HTTP, warm and on first sight."""
    count, runs = (5, 3) if quick else (20, 5)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        a, b = two_regions(directory)
        try:
            _start([a, b], directory)
            b.cli("peers", "add", a.url)
            b.cli("peers", "accept", a.origin, "--types", XR_BUSINESS)
            pdfs = _sealed_pdfs(a, _issue_tokens(a, count), directory)
            b.cli("peers", "sync")
            keys = [r.cli("apikey", "create", "--role", "verifier", "--principal", "bench")["key"] for r in (a, b)]
            with httpx.Client(timeout=60, trust_env=False) as client:
                cross = _pdf_timer(client, b.url, keys[1], a.origin)
                local = _pdf_timer(client, a.url, keys[0], "local")
                first = [(cross(pdf), local(pdf)) for pdf in pdfs]
                cold_ours, cold_base = statistics.median(f[0] for f in first), statistics.median(f[1] for f in first)
                by_index = {str(i): pdf for i, pdf in enumerate(pdfs)}
                ours, base = _interleaved(
                    lambda i: cross(by_index[i]), lambda i: local(by_index[i]), list(by_index), runs
                )
        finally:
            for r in (a, b):
                if r.proc is not None:
                    r.proc.terminate()
                    r.proc.wait(30)
    what = f"{count} PDFs × {runs} runs, interleaved, medians"
    return [
        _row(
            "peer's sealed PDF (B) vs own (A), HTTP",
            ours,
            base,
            "s/request",
            f"POST /v1/verify/pdf; B proves DocumentSealed and status on A's log; {what}",
        ),
        _row(
            "  same, first check of each PDF",
            cold_ours,
            cold_base,
            "s/request",
            f"B fetches and proves the leaves (not cached yet); {count} PDFs, once each",
        ),
    ]
