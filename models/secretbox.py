"""Encryption at rest for HMAC secrets (session `randomSecret`, API secrets).

AES-256-GCM under a key derived (HKDF-SHA256) from `ONBOARDING_SECRETS_KEY`. Each ciphertext is
bound to the row it belongs to (associated data), so swapping sealed values between rows fails.

Rotation: new values are always sealed under the current key; values sealed under a previous key
(`ONBOARDING_PREVIOUS_SECRETS_KEYS`) still open, and `reseal` moves them to the current key so the
old key can eventually be dropped. AES-GCM authenticates, so trying each key in turn is safe: a
wrong key fails, it never yields garbage.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


def derive_key(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"onboarding-api secrets v1"
    ).derive(secret.encode())


class SecretBox:
    def __init__(self, secret: str, previous: tuple[str, ...] = ()) -> None:
        self._aead = AESGCM(derive_key(secret))
        self._previous = tuple(AESGCM(derive_key(key)) for key in previous if key != secret)

    def seal(self, plaintext: str, *, bound_to: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, bound_to: str) -> str:
        """Decrypt with the current key, else a previous one; otherwise raise ValueError."""
        return self._open(sealed, bound_to)[0]

    def reseal(self, sealed: str, *, bound_to: str) -> str | None:
        """The value sealed under the current key, or None when it already is."""
        plaintext, current = self._open(sealed, bound_to)
        return None if current else self.seal(plaintext, bound_to=bound_to)

    def _open(self, sealed: str, bound_to: str) -> tuple[str, bool]:
        """(plaintext, whether the current key opened it)."""
        try:
            raw = base64.b64decode(sealed, validate=True)
        except binascii.Error as exc:
            raise ValueError("sealed secret is not base64") from exc
        nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        for aead in (self._aead, *self._previous):
            try:
                plain = aead.decrypt(nonce, body, bound_to.encode())
            except (InvalidTag, ValueError):
                continue
            return plain.decode(), aead is self._aead
        raise ValueError("sealed secret does not open under the current or any previous key")
