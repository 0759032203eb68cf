"""Seal a PDF with pyHanko: PAdES baseline B-T (ETSI EN 319 142-1 §6.3), or B-LTA when a CRL is at hand.

The CMS signature (ETSI.CAdES.detached, ISO 32000-2 §12.8.3.4) carries an RFC 3161 signature time-stamp from the
region TSA: fetched over HTTP with pyHanko's `HTTPTimeStamper` (`tsa_url`), or asked of an in-process
`TimeStampAuthority` (`authority`: same tokens, no round trip). The department's seal image is the visible appearance.
With a CRL, the validation data goes into the DSS and a document time-stamp is added (PAdES B-LTA, §6.5).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import aiohttp
from asn1crypto import crl as asn1_crl
from asn1crypto import keys, tsp, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from seals.errors import SealingError
from seals.render import SEAL_BOX
from seals.tsa import TimeStampAuthority

__all__ = ["SEAL_FIELD", "LocalTimeStamper", "SealKey", "SealedPdf", "async_seal_pdf", "seal_pdf"]

SEAL_FIELD = "Seal"
MAX_INPUT_BYTES = 20 * 1024 * 1024
_REASON = "电子证照签章"
# The seal is ink on paper, not a sticker: its appearance is painted with blend mode Multiply (ISO 32000-1 §11.3.5),
# so text under the red ink stays dark (dark × red is dark) and white paper turns red; the constant alpha below lets
# text show through even in a viewer that ignores blend modes. Never paint the seal opaque: it is stamped over the
# issuer line, the issue date and the validity, and must not hide them.
SEAL_INK_OPACITY = 0.85
_INK_GS = "/SealInkGS"


class _NoFetchNotice(logging.Filter):
    """Drop pyHanko's warning that fetching is off for B-LTA: that is our policy (the region CRL is handed in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fetching is not allowed" not in record.getMessage()


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_NoFetchNotice())

# Space for the CMS blob, in hex digits of /Contents (pyHanko's unit). Fixing it spares pyHanko a dry-run signature,
# which would cost a second TSA round trip. Our B-T CMS (seal + CA certificates, time-stamp token with the TSA chain)
# measures 3.4 KB with a 10-character department name and 4.4 KB with a 24-character one (the seal image's limit) in a
# 16-character region (UTF-8 subjects recur in four certificates); 5 KB covers both. Every reserved byte is parsed,
# slowly, by each validator, so do not pad generously. B-LTA's revocation data lives in the DSS, not in /Contents.
_RESERVED_BYTES = 10_240


@dataclass(frozen=True)
class SealKey:
    """A department's seal: certificate, private key, issuing chain (up to the region CA) and seal image PNG."""

    certificate: cx509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    chain: tuple[cx509.Certificate, ...]
    appearance_png: bytes


@dataclass(frozen=True)
class SealedPdf:
    """The sealed bytes and their SHA-256 (hex), which the ledger records as `DocumentSealed` (DESIGN §7)."""

    data: bytes
    sha256: str


def _asn1_cert(certificate: cx509.Certificate) -> x509.Certificate:
    return x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _signer(key: SealKey) -> signers.SimpleSigner:
    pkcs8 = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    registry = SimpleCertificateStore.from_certs([_asn1_cert(c) for c in key.chain])  # type: ignore[no-untyped-call]
    return signers.SimpleSigner(
        signing_cert=_asn1_cert(key.certificate),
        signing_key=keys.PrivateKeyInfo.load(pkcs8),
        cert_registry=registry,
    )


class LocalTimeStamper(TimeStamper):
    """pyHanko's time-stamp client bound to an in-process `TimeStampAuthority`: the same RFC 3161 request and
    response bytes as over HTTP (§3.4), without the loopback round trip (used by the CLI and inside the server)."""

    def __init__(self, authority: TimeStampAuthority) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self._authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """Answer the request in process; a rejection surfaces as pyHanko's `TimestampRequestError`."""
        response = self._authority.respond(req.dump())
        try:
            parsed = tsp.TimeStampResp.load(response)
            granted = parsed["status"]["status"].native == "granted"
        except (ValueError, TypeError, KeyError) as e:
            raise TimestampRequestError(f"time-stamp authority answered with an unreadable response: {e}") from e
        if not granted:
            raise TimestampRequestError("time-stamp authority refused the request")
        return parsed


class _InkImage(PdfImage):
    """The seal PNG painted as translucent ink: a graphics state with /BM /Multiply and /ca around the image."""

    def render(self) -> bytes:
        """The image's content stream, under the ink graphics state."""
        opacity = generic.FloatObject(SEAL_INK_OPACITY)  # type: ignore[no-untyped-call]
        state = generic.DictionaryObject(  # type: ignore[no-untyped-call]
            {
                generic.NameObject("/Type"): generic.NameObject("/ExtGState"),
                generic.NameObject("/BM"): generic.NameObject("/Multiply"),
                generic.NameObject("/ca"): opacity,
                generic.NameObject("/CA"): opacity,
            }
        )
        self.set_resource(category=ResourceType.EXT_G_STATE, name=generic.NameObject(_INK_GS), value=state)
        return b"q %s gs %s Q" % (_INK_GS.encode("ascii"), super().render())


@lru_cache(maxsize=32)
def _seal_image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _metadata(
    key: SealKey, crl: cx509.CertificateRevocationList | None, moment: datetime | None
) -> signers.PdfSignatureMetadata:
    if crl is None:
        return signers.PdfSignatureMetadata(
            field_name=SEAL_FIELD, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES, reason=_REASON
        )
    context = ValidationContext(
        trust_roots=[_asn1_cert(key.chain[-1])],
        other_certs=[_asn1_cert(c) for c in key.chain],
        crls=[asn1_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))],
        allow_fetching=False,
        moment=moment,  # the sealer's clock, not pyHanko's reading of the machine's
    )
    return signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=_REASON,
        embed_validation_info=True,
        use_pades_lta=True,
        validation_context=context,
    )


def _pdf_signer(
    key: SealKey,
    timestamper: TimeStamper,
    box: tuple[float, float, float, float],
    crl: cx509.CertificateRevocationList | None,
    moment: datetime | None,
) -> signers.PdfSigner:
    # The stamp is re-created per call: PdfImage binds itself to one writer and must not be shared across documents.
    style = StaticStampStyle(
        background=_InkImage(_seal_image(key.appearance_png)),
        border_width=0,
        background_opacity=1.0,  # the ink's own graphics state sets its opacity and blend mode (`_InkImage`)
    )
    style = _no_margins(style)
    spec = fields.SigFieldSpec(
        sig_field_name=SEAL_FIELD, on_page=0, box=(round(box[0]), round(box[1]), round(box[2]), round(box[3]))
    )
    return signers.PdfSigner(
        _metadata(key, crl, moment),
        signer=_signer(key),
        timestamper=timestamper,
        stamp_style=style,
        new_field_spec=spec,
    )


def _no_margins(style: StaticStampStyle) -> StaticStampStyle:
    from dataclasses import replace

    from pyhanko.pdf_utils import layout

    rule = layout.SimpleBoxLayoutRule(
        x_align=layout.AxisAlignment.ALIGN_MID,
        y_align=layout.AxisAlignment.ALIGN_MID,
        margins=layout.Margins(left=0, right=0, top=0, bottom=0),
    )
    return replace(style, background_layout=rule)


async def async_seal_pdf(
    pdf: bytes,
    key: SealKey,
    *,
    tsa_url: str | None = None,
    authority: TimeStampAuthority | None = None,
    box: tuple[float, float, float, float] = SEAL_BOX,
    crl: cx509.CertificateRevocationList | None = None,
    moment: datetime | None = None,
) -> SealedPdf:
    """Seal `pdf` (PAdES B-T; B-LTA when `crl` is given) inside a running event loop, as the server does.

    The signature time-stamp comes from the TSA at `tsa_url` or from the in-process `authority` (exactly one).
    B-LTA validation data is checked at `moment` (the sealer's clock; default: pyHanko reads the machine's)."""
    if (tsa_url is None) == (authority is None):
        raise SealingError("give exactly one time-stamp source: tsa_url or authority")
    if not key.chain:
        raise SealingError("a seal key needs its issuing chain up to the region CA")
    if len(pdf) > MAX_INPUT_BYTES:
        raise SealingError("PDF to seal is larger than 20 MiB")
    where = tsa_url or "in-process TSA"
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
        if authority is not None:
            out = await _sign(writer, key, LocalTimeStamper(authority), box, crl, moment)
        else:
            assert tsa_url is not None
            # Our own session: pyHanko's per-request default builds a fresh TLS context (~25 ms) every time.
            async with aiohttp.ClientSession() as session:
                out = await _sign(writer, key, HTTPTimeStamper(tsa_url, session=session), box, crl, moment)
    except TimestampRequestError as e:
        raise SealingError(f"time-stamp authority at {where} did not answer: {e}") from e
    except (SigningError, PdfError, ValueError) as e:
        raise SealingError(f"pyHanko could not seal the PDF: {e}") from e
    data = out.getvalue()
    return SealedPdf(data=data, sha256=hashlib.sha256(data).hexdigest())


async def _sign(
    writer: IncrementalPdfFileWriter,
    key: SealKey,
    timestamper: TimeStamper,
    box: tuple[float, float, float, float],
    crl: cx509.CertificateRevocationList | None,
    moment: datetime | None,
) -> io.BytesIO:
    signer = _pdf_signer(key, timestamper, box, crl, moment)
    out: io.BytesIO = await signer.async_sign_pdf(writer, output=io.BytesIO(), bytes_reserved=_RESERVED_BYTES)
    return out


def seal_pdf(
    pdf: bytes,
    key: SealKey,
    *,
    tsa_url: str | None = None,
    authority: TimeStampAuthority | None = None,
    box: tuple[float, float, float, float] = SEAL_BOX,
    crl: cx509.CertificateRevocationList | None = None,
    moment: datetime | None = None,
) -> SealedPdf:
    """Synchronous `async_seal_pdf` for the CLI and tests (runs its own event loop; not for use inside one)."""
    return asyncio.run(async_seal_pdf(pdf, key, tsa_url=tsa_url, authority=authority, box=box, crl=crl, moment=moment))
