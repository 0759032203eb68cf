"""Reference measurements for the benchmark: pyHanko used bare (B-T, no appearance, default validation).

Lives in `seals` because pyHanko may be imported only here; nothing in production calls it.
"""

from __future__ import annotations

import asyncio
import io

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from seals.sign import _RESERVED_BYTES, LocalTimeStamper, SealKey, _asn1_cert, _signer
from seals.tsa import TimeStampAuthority

__all__ = ["bare_sign", "bare_validate", "tuned_sign"]


def bare_sign(pdf: bytes, key: SealKey, tsa_url: str) -> bytes:
    """Sign with pyHanko's plain PdfSigner: PAdES B-T (ETSI EN 319 142-1 §6.3), invisible field, same TSA."""
    meta = signers.PdfSignatureMetadata(
        field_name="Sig", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    signer = signers.PdfSigner(meta, signer=_signer(key), timestamper=HTTPTimeStamper(tsa_url))
    out = signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=io.BytesIO())
    data: bytes = out.getvalue()
    return data


def tuned_sign(pdf: bytes, key: SealKey, authority: TimeStampAuthority) -> bytes:
    """pyHanko's plain PdfSigner with our two speed-ups and nothing else: the in-process TSA and a fixed /Contents
    size (no dry run). The strictest baseline: what sealing would cost without appearance, rendering or ledger."""
    meta = signers.PdfSignatureMetadata(
        field_name="Sig", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    signer = signers.PdfSigner(meta, signer=_signer(key), timestamper=LocalTimeStamper(authority))

    async def run() -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        out = await signer.async_sign_pdf(writer, output=io.BytesIO(), bytes_reserved=_RESERVED_BYTES)
        data: bytes = out.getvalue()
        return data

    return asyncio.run(run())


def bare_validate(data: bytes, key: SealKey) -> bool:
    """Validate the first signature with pyHanko alone (no caps, no CRL), returning its bottom line."""

    async def run() -> bool:
        reader = PdfFileReader(io.BytesIO(data))
        context = ValidationContext(trust_roots=[_asn1_cert(key.chain[-1])], allow_fetching=False)
        status = await async_validate_pdf_signature(reader.embedded_signatures[0], signer_validation_context=context)
        return bool(status.bottom_line)

    return asyncio.run(run())
