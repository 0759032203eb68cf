"""The QR token of a licence version (DESIGN §6): signed with the issuer's token key valid at the minting time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from licences.domain import Licence
from licences.registry import RegistryService
from signatures.cose import LicenceClaims, Signer, b64url_encode, sign_token


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A signed token (base64url) and the hex key id of the key that signed it."""

    token: str
    kid: str


@dataclass
class TokenIssuer:
    """Signs licence tokens for one log; looks each issuer's key up once per (issuer, time) for its lifetime.

    Make one per transaction (`Projector` does): a batch of a thousand licences of one issuer then loads one key.
    """

    registry: RegistryService
    origin: str
    _signers: dict[tuple[str, datetime], Signer] = field(default_factory=dict)

    def mint(self, licence: Licence, minted_leaf: int) -> MintedToken:
        """The token of the licence's current version; `minted_leaf` is the leaf of the event that minted it."""
        signed_at = licence.modified_on
        key = (licence.issuer, signed_at)
        if key not in self._signers:
            self._signers[key] = self.registry.token_signer(licence.issuer, signed_at)[1]
        signer = self._signers[key]
        claims = LicenceClaims(
            issuer=licence.issuer,
            subject=str(licence.identifier),
            issued_at=int(signed_at.timestamp()),
            not_before=int(licence.valid_from.timestamp()),
            expires_at=None if licence.valid_until is None else int(licence.valid_until.timestamp()),
            licence_type=licence.type_code,
            version=licence.licence_version,
            holder_digest=bytes.fromhex(licence.holder_digest),
            leaf_index=minted_leaf,
            log_origin=self.origin,
        )
        return MintedToken(b64url_encode(sign_token(claims, signer)), signer.kid.hex())
