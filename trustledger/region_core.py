"""The core of an opened region: settings, keystore, store, log, recorder, registries (`RegionCore`).

`trustledger.sealing` and every other wiring module build on a `RegionCore`; this module imports none of them, so the
seal PKI that `init` certifies is wired here (`RegionCore.seal_registry`, like the licence registry) rather than there.
`trustledger.region` puts them together: its `Region` is this core plus the services the HTTP API is handed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clock import Clock
from ledger.log import CheckpointSigner, Log
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, make_engine
from licences.application import LicenceService
from licences.catalogue import Catalogue
from licences.holder_keys import SqlHolderKeyVault
from licences.recording import Recording
from licences.registry import RegistryService
from licences.status_entries import StatusEntries
from licences.store import LicenceStore
from seals.registry import SealRegistry
from seals.store import SealStore
from signatures.keys import FileKeyStore, load_or_create_passphrase
from signatures.note import NoteSigner
from trustledger.periodic import PeriodicWorker
from trustledger.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

DEMO_REGION = {"code": "410000", "name": "河南省", "origin": "ledger.ha.gov.example/log"}
_ORIGIN = re.compile(r"[a-z0-9.-]+(/[A-Za-z0-9._-]+)*")
_CODE = re.compile(r"\d{6}")
CRL_PATH = "/v1/seals/crl"  # where the API serves the region's seal CRL; written into every seal certificate


class RegionError(Exception):
    """The region is not initialised or its configuration is invalid."""


@dataclass(frozen=True)
class RegionConfig:
    """Who this region is: administrative code, name, and the origin line of its checkpoints."""

    code: str
    name: str
    origin: str

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise RegionError(f"region code {self.code!r} must be 6 digits (GB/T 2260)")
        if not self.name.strip():
            raise RegionError("region name must not be empty")
        if not _ORIGIN.fullmatch(self.origin):
            raise RegionError(f"origin {self.origin!r} must look like <host>/log")


class RegionCore:
    """One region's ledger, opened from settings (the wiring modules build on it; `trustledger.region.Region` is
    what callers open)."""

    def __init__(self, settings: Settings, config: RegionConfig, clock: Clock) -> None:
        self.settings = settings
        self.config = config
        self.clock = clock
        self.keys = _keystore(settings)
        limits = settings.write_limits()
        self.store = LedgerStore(make_engine(settings.resolved_database_url(), limits=limits), limits, clock=clock)
        self.log = Log(self.store, config.origin)
        self.store.checkpointer = self._checkpoint_batch
        self.recorder = LedgerRecorder(self.store, clock=clock)
        self.recording = Recording(self.recorder)
        self.licence_store = LicenceStore(self.store)

    @property
    def public_base_url(self) -> str:
        """The base of QR URLs (`<base>/v/<token>`)."""
        return self.settings.public_base_url.rstrip("/")

    @cached_property
    def registry(self) -> RegistryService:
        """Catalogue entries and signing keys, as ledger events."""
        return RegistryService(self.recording, self.licence_store, self.keys, self.clock)

    @cached_property
    def licences(self) -> LicenceService:
        """The licence library: lifecycle commands, uses, queries."""
        secrets_dir = self.settings.home / "keys"
        salt = load_or_create_passphrase(secrets_dir / "holder-salt")
        kek = hashlib.sha256(
            b"trustledger/holder-kek:" + load_or_create_passphrase(secrets_dir / "holder-kek")
        ).digest()
        return LicenceService(
            recording=self.recording,
            store=self.licence_store,
            registry=self.registry,
            vault=SqlHolderKeyVault(self.licence_store, kek),
            salt=salt,
            clock=self.clock,
            origin=self.config.origin,
            public_base_url=self.public_base_url,
            status=StatusEntries(self.log.status_map, after_change=self._checkpoint_in),
        )

    def _checkpoint_in(self, conn: Connection) -> None:
        """Have the batch that changed a status sign a checkpoint before it commits, so the change is provable the
        moment it is acknowledged (one checkpoint per batch, however many commands of the batch asked: ADR 0014)."""
        del conn
        self.store.want_checkpoint()

    def _checkpoint_batch(self, conn: Connection) -> None:
        """Sign one checkpoint over a batch that asked for one, inside its transaction (`LedgerStore.checkpointer`)."""
        del conn  # `Log.sign_checkpoint` joins the batch's unit of work
        self.log.sign_checkpoint(self.log_signer, self.clock())

    @property
    def crl_url(self) -> str:
        """Where the region serves its seal CRL; written into seal certificates as their CRL distribution point."""
        return self.public_base_url + CRL_PATH

    @cached_property
    def seal_registry(self) -> SealRegistry:
        """The region's seal CA, TSA and department seal certificates, as ledger events (DESIGN §7)."""
        return SealRegistry(self.recording, SealStore(self.store), self.keys, self.clock, self.crl_url)

    def ensure_seal_pki(self) -> dict[str, int]:
        """Certify the seal CA, the TSA and a seal per registered issuer where missing (idempotent; `init` runs it).
        Returns how many authority and seal certificates were issued."""
        authorities = self.seal_registry.ensure_authorities(self.config.name)
        issuers = [(i.uscc, i.name) for i in self.registry.issuers()]
        return {"authorities": authorities, "seal_certificates": self.seal_registry.ensure_seal_certificates(issuers)}

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue as published on this region's ledger."""
        return self.registry.catalogue()

    @property
    def log_signer(self) -> NoteSigner:
        """The Ed25519 checkpoint signer; its key name is the log origin."""
        key = self.keys.load("log")
        if not isinstance(key, Ed25519PrivateKey):
            raise RegionError("the log key must be Ed25519")
        return NoteSigner(self.config.origin, key)

    def checkpoint_worker(self) -> PeriodicWorker:
        """The checkpoint signer of `serve` (not started): a checkpoint every `checkpoint_interval` seconds while the
        tree grows, and a last one on stop so nothing acknowledged is left unsigned."""
        signer = CheckpointSigner(self.log, self.log_signer, self.clock)
        interval = self.settings.checkpoint_interval
        return PeriodicWorker("checkpoint-signer", signer.tick, interval, self.clock, on_stop=signer.tick)

    def sign_checkpoint(self) -> str:
        """The latest checkpoint note, signing a new one if the tree grew."""
        return self.log.sign_checkpoint(self.log_signer, self.clock()).note

    def close(self) -> None:
        """Release database connections."""
        self.store.close()


def _keystore(settings: Settings) -> FileKeyStore:
    keys_dir = settings.home / "keys"
    passphrase = settings.key_passphrase.encode() or load_or_create_passphrase(keys_dir / "passphrase")
    return FileKeyStore(keys_dir, passphrase)


def _log_key(origin: str) -> Ed25519PrivateKey:
    """A new log key whose verifier string has no '+' in its base64 part.

    Go's note parser cuts at the first two '+', but naive parsers split on every '+' and break on a key that
    contains one; about half of all keys qualify, so this costs two tries on average and no security.
    """
    while True:
        key = Ed25519PrivateKey.generate()
        if "+" not in NoteSigner(origin, key).verifier.to_string().split("+", 2)[2]:
            return key


def _config_path(settings: Settings) -> Path:
    return settings.region_config_file()


def load_config(settings: Settings) -> RegionConfig | None:
    """The region configuration written by `init`, or None before `init`."""
    path = _config_path(settings)
    if not path.exists():
        return None
    return RegionConfig(**json.loads(path.read_text()))


def region_clock(settings: Settings) -> Clock:
    """The clock of a region opened from `settings`: the system clock, or one started at TRUSTLEDGER_CLOCK_AT,
    shifted by TRUSTLEDGER_CLOCK_OFFSET_SECONDS (drills, and tests that run a real server at a chosen date)."""
    return settings.clock()


def init_identity(settings: Settings, code: str | None, name: str | None, origin: str | None) -> RegionConfig:
    """Write the region configuration and create the log and root keys where missing (the first steps of
    `init_region`; idempotent, and an existing region keeps its identity)."""
    existing = load_config(settings)
    wanted = RegionConfig(
        code or (existing.code if existing else DEMO_REGION["code"]),
        name or (existing.name if existing else DEMO_REGION["name"]),
        origin or (existing.origin if existing else DEMO_REGION["origin"]),
    )
    if existing is not None and existing != wanted:
        raise RegionError(f"region already initialised as {existing.code} {existing.origin}; refusing to change it")
    settings.home.mkdir(parents=True, exist_ok=True)
    if existing is None:
        _config_path(settings).write_text(json.dumps(asdict(wanted), ensure_ascii=False, indent=2) + "\n")
    keys = _keystore(settings)
    if not keys.exists("log"):
        keys.store("log", _log_key(wanted.origin))
    keys.get_or_create("root", "ed25519")
    return wanted
