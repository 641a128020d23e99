"""The key-encryption key (KEK) that wraps every data key: envelope encryption. The database
holds wrapped data keys only; the KEK is held outside it.

:class:`FileKeyEncryptionKey` keeps it in a file (``make run``, the tests: ``EPS_KEYS_KEK_FILE``,
made once by :func:`ensure_local_kek`). In production a KMS or HSM holds it and wraps and
unwraps itself, the KEK never leaving it: an adapter of the same two methods (``wrap``,
``unwrap``) calling the council's KMS (Azure Key Vault's wrapKey/unwrapKey, AWS KMS's
Encrypt/Decrypt) takes its place in ``bootstrap``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyEncryptionKey(Protocol):
    kek_id: str
    """Which KEK wrapped a key (kept beside it, so that a KEK can be rotated)."""

    def wrap(self, data_key: bytes, bound_to: bytes) -> bytes:
        """``data_key`` wrapped, bound to ``bound_to`` (its owner: it unwraps for it alone)."""

    def unwrap(self, wrapped: bytes, bound_to: bytes) -> bytes: ...


class FileKeyEncryptionKey:
    """A 256-bit KEK read from a file; wraps with AES-256-GCM (random nonce before the
    ciphertext), the owner of the key as associated data."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(key)
        self.kek_id = "file:" + hashlib.sha256(key).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: Path) -> FileKeyEncryptionKey:
        return cls(base64.b64decode(path.read_text().strip()))

    def wrap(self, data_key: bytes, bound_to: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, bound_to)

    def unwrap(self, wrapped: bytes, bound_to: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:12], wrapped[12:], bound_to)


def ensure_local_kek(path: Path) -> Path:
    """Create (once) a local KEK file readable by its owner alone; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
        path.chmod(0o600)
    return path


if __name__ == "__main__":  # docker-compose's one-shot `kek`: python -m eps_keys.adapters.kek FILE
    import sys

    print(f"key-encryption key at {ensure_local_kek(Path(sys.argv[1]))}")
