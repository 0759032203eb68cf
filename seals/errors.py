"""Errors of the seals package."""

from ledger.errors import LedgerError


class SealError(Exception):
    """Root of every error raised by `seals`."""


class PkiError(SealError):
    """A seal CA, certificate or CRL could not be built from the given keys and parameters."""


class FontError(SealError):
    """The CJK font could not be found or loaded."""


class MissingGlyphError(FontError):
    """A character (often a rare 生僻字) is not in the embedded font; it would silently vanish from the PDF."""

    def __init__(self, character: str, font_name: str) -> None:
        self.character = character
        self.font_name = font_name
        super().__init__(
            f"character {character!r} (U+{ord(character):04X}) is not in font {font_name}; "
            "it cannot be rendered (生僻字): use a font that covers it"
        )


class RenderError(SealError):
    """The licence document could not be laid out on one A4 page."""


class TimestampError(SealError):
    """The time-stamp authority could not answer a request (RFC 3161 §2.4.2 PKIStatus other than granted)."""


class SealingError(SealError):
    """pyHanko could not seal the PDF (bad key, unreachable TSA, malformed input PDF)."""


class UnusablePdfError(SealError):
    """An uploaded PDF is too large, a decompression bomb, or not a PDF at all; it is refused before validation."""


class SealRegistryError(SealError, LedgerError):
    """The region's seal registry refused a change or has no usable seal CA, TSA or seal certificate.

    Also a `LedgerError`: the registry is state kept on the ledger, and callers that report ledger refusals to the
    user (the CLI's region handler) report these the same way; it was a `licences.errors.RegistryError` before the
    registry moved here from `licences/`.
    """
