"""Key storage: encrypted PKCS#8 PEM files by default, behind a small interface an HSM could implement."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signatures.errors import KeyStoreError

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
_KEY_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


class KeyStore(Protocol):
    """Where private keys live. Names are stable handles such as `log`, `root`, `token-<uscc>-1`."""

    def load(self, name: str) -> PrivateKey:
        """The private key stored under `name`; raises KeyStoreError if absent or unreadable."""
        ...

    def create(self, name: str, algorithm: str) -> PrivateKey:
        """Generate and store a new key (`ed25519` or `p256`); raises KeyStoreError if it exists."""
        ...

    def exists(self, name: str) -> bool:
        """Whether a key is stored under `name`."""
        ...


def _generate(algorithm: str) -> PrivateKey:
    if algorithm == "ed25519":
        return Ed25519PrivateKey.generate()
    if algorithm == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise KeyStoreError(f"unsupported key algorithm {algorithm!r}")


class FileKeyStore:
    """Keys as passphrase-encrypted PKCS#8 PEM files (mode 0600) in one directory."""

    def __init__(self, directory: Path, passphrase: bytes) -> None:
        if not passphrase:
            raise KeyStoreError("an empty keystore passphrase is not allowed")
        self._dir = directory
        self._passphrase = passphrase
        self._cache: dict[str, PrivateKey] = {}

    def _path(self, name: str) -> Path:
        if not _KEY_NAME.fullmatch(name):
            raise KeyStoreError(f"invalid key name {name!r}")
        return self._dir / f"{name}.pem"

    def exists(self, name: str) -> bool:
        """Whether a key file is stored under `name`."""
        return self._path(name).exists()

    def load(self, name: str) -> PrivateKey:
        """Decrypt and return the key stored under `name` (cached after the first load)."""
        if name in self._cache:
            return self._cache[name]
        path = self._path(name)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=self._passphrase)
        except FileNotFoundError as exc:
            raise KeyStoreError(f"no key named {name!r} in {self._dir}") from exc
        except (ValueError, TypeError) as exc:
            raise KeyStoreError(f"key {name!r} cannot be decrypted (wrong passphrase?)") from exc
        if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"key {name!r} has an unsupported type")
        self._cache[name] = key
        return key

    def create(self, name: str, algorithm: str) -> PrivateKey:
        """Generate a key and write it atomically; never overwrites an existing key."""
        return self.store(name, _generate(algorithm))

    def store(self, name: str, key: PrivateKey) -> PrivateKey:
        """Write a key generated elsewhere, atomically; never overwrites an existing key."""
        path = self._path(name)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if the key exists: never overwrite a key
        except FileExistsError as exc:
            raise KeyStoreError(f"key {name!r} already exists") from exc
        finally:
            tmp.unlink()
        self._cache[name] = key
        return key

    def get_or_create(self, name: str, algorithm: str) -> PrivateKey:
        """Load the key, creating it first if it does not exist yet (idempotent `init`)."""
        if self.exists(name):
            return self.load(name)
        return self.create(name, algorithm)


def load_or_create_passphrase(path: Path) -> bytes:
    """A development passphrase kept in a 0600 file beside the keys; production sets it from the environment."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(value + b"\n")
    return value
