"""Encryption at rest for HMAC secrets (session `randomSecret`, API secrets).

AES-256-GCM under a key derived (HKDF-SHA256) from `ONBOARDING_SECRETS_KEY`. Each ciphertext is
bound to the row it belongs to (associated data), so swapping sealed values between rows fails.
"""

from __future__ import annotations

import base64
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
    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(derive_key(secret))

    def seal(self, plaintext: str, *, bound_to: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, bound_to: str) -> str:
        """Decrypt; a tampered, foreign or mis-bound value raises ValueError."""
        raw = base64.b64decode(sealed)
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode())
        except InvalidTag as exc:
            raise ValueError("sealed secret does not open under this key") from exc
        return plain.decode()
