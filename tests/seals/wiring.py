"""A region with seals for the wiring tests: initialised, one licence issued, and helpers around it."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import rfc8785

from demo.synthetic import organisation_code_check
from licences.application import LicenceView
from licences.identifiers import uscc_check_char
from signatures.trustlist import sign_trust_list
from trustledger.region import Region
from trustledger.sealing import seal_ca_pem, seal_certificates_pem
from trustledger.trust import region_trust_inputs, root_signer
from trustlists.publisher import trusted_issuers

PUBLIC_BASE = "https://ledger.ha.gov.example"
HOLDER_NAME = "郑州市龘鑫科技有限公司"
FIELDS = {"legal_representative": "张三", "established_on": "2023-04-03", "address": "河南省郑州市金水区花园路 123 号"}


def holder_uscc(n: int = 0) -> str:
    """A valid USCC (GB 32100-2015) for a company holder."""
    code = f"MA44{n:04d}"
    body = f"91410100{code}{organisation_code_check(code)}"
    return body + uscc_check_char(body)


def issue_business_licence(region: Region, issuer: str = "zz-amr", n: int = 0) -> LicenceView:
    """Issue a 营业执照 by `issuer` (a catalogue key); returns the LicenceView."""
    return region.licences.issue(
        type_code="business-licence", issuer=issuer, holder_id=holder_uscc(n), holder_name=HOLDER_NAME, fields=FIELDS
    )


def write_trust_list(region: Region, path: Path, now: datetime) -> Path:
    """A signed trust list file carrying the region's seal CA and each issuer's seal certificates."""
    inputs = dataclasses.replace(
        region_trust_inputs(region),
        issuers=trusted_issuers(region.registry, lambda uscc: seal_certificates_pem(region, uscc)),
        seal_ca_certificates=(seal_ca_pem(region),),
    )
    doc = inputs.build(now.replace(microsecond=0), now.replace(microsecond=0) + timedelta(days=1))
    path.write_bytes(rfc8785.dumps(sign_trust_list(doc, root_signer(region))))  # type: ignore[arg-type]
    return path
