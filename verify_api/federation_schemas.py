"""Request and response schemas of cross-region verification (`POST /v1/federation/verify`, `GET
/v1/federation/status`): what an approval system sends and gets back, whichever region minted the licence."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# The API's response models are defined once, in the client distribution (clients/python); re-exported here.
from trustledger_client.models import AcceptanceOut as AcceptanceOut
from trustledger_client.models import CrossLicenceOut as CrossLicenceOut
from trustledger_client.models import CrossVerdictName as CrossVerdictName
from trustledger_client.models import FederationVerifyOut as FederationVerifyOut
from trustledger_client.models import FindingOut as FindingOut
from trustledger_client.models import InclusionOut as InclusionOut
from trustledger_client.models import PeerStatusOut as PeerStatusOut
from trustledger_client.models import StatusWord as StatusWord
from trustledger_client.models import TrustListRef as TrustListRef
from trustledger_client.models import UseRecordOut as UseRecordOut


class FederationVerifyIn(BaseModel):
    """A licence token of any region (QR URL or bare), and the use: matter (事项), purpose, consent evidence."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=4096, description="QR URL, /v/<token> path or token")]
    matter_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z._-]{1,64}$", description="事项编码")]
    purpose: Annotated[str, Field(min_length=1, max_length=500)]
    consent: Annotated[str, Field(min_length=1, max_length=1000, description="consent evidence, e.g. a reference")]
