"""The verification core: one check per artefact, each returning one frozen status (docs/verification.md).

- `check_token_online` (`online.py`): a licence QR token against this region's ledger — signature, key lifecycle at
  `iat` and at the minting leaf's time, the minting leaf on our log, the licence's status now — proven with the
  status map against a signed checkpoint (`StatusUnprovenError` when it cannot be: no verdict without proof);
- `check_token_offline` (`offline.py`): a token against a signed trust list (`open_trust_list` verifies the list);
- `verification.pdf.check_pdf_online` / `check_pdf_offline`: a sealed licence PDF (imported from its module: it
  loads the PDF stack, which a token check does not need);
- `verification.crossregion.cross_region_status`: a peer region's verdict (`anchors.crossregion`) in the same terms.

Every check answers with a `Verdict` from one enum and `Reason`s with stable codes (`status.CODES`). The CLI, the
API and the pages call these and present the status; they decide nothing. Inputs are explicit services handed in by
the composition root (`trustledger`), never the region object itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from verification.offline import check_token_offline, open_trust_list
from verification.status import AUTHENTIC, CODES, Code, Reason, TokenStatus, Verdict, verdict_of_code

if TYPE_CHECKING:
    from verification.online import LedgerSources, StatusUnprovenError, check_token_online, prove_current

# The online check loads the licence domain and eventsourcing (~50 ms) that an offline check never uses: its names
# are resolved on first use (PEP 562), so `trustledger verify --offline` starts without them.
_ONLINE = frozenset({"LedgerSources", "StatusUnprovenError", "check_token_online", "prove_current"})


def __getattr__(name: str) -> Any:
    if name in _ONLINE:
        from verification import online

        value = getattr(online, name)
        globals()[name] = value  # later look-ups find it without this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AUTHENTIC",
    "CODES",
    "Code",
    "LedgerSources",
    "Reason",
    "StatusUnprovenError",
    "TokenStatus",
    "Verdict",
    "check_token_offline",
    "check_token_online",
    "open_trust_list",
    "prove_current",
    "verdict_of_code",
]
