from __future__ import annotations

import base64

import pytest

from models.secretbox import SecretBox, derive_key


def test_round_trip_and_no_plaintext_in_the_sealed_value() -> None:
    box = SecretBox("k" * 40)
    sealed = box.seal("0xdeadbeef", bound_to="session:1")
    assert "deadbeef" not in sealed
    assert b"deadbeef" not in base64.b64decode(sealed)
    assert box.open(sealed, bound_to="session:1") == "0xdeadbeef"
    assert box.seal("0xdeadbeef", bound_to="session:1") != sealed  # fresh nonce each time


def test_a_value_bound_to_another_row_or_key_does_not_open() -> None:
    box = SecretBox("k" * 40)
    sealed = box.seal("secret", bound_to="session:1")
    with pytest.raises(ValueError, match="does not open"):
        box.open(sealed, bound_to="session:2")
    with pytest.raises(ValueError, match="does not open"):
        SecretBox("j" * 40).open(sealed, bound_to="session:1")


def test_key_derivation_fixed_vector() -> None:
    # HKDF-SHA256(ikm="k"*40, no salt, info="onboarding-api secrets v1"), computed once, frozen.
    assert derive_key("k" * 40).hex() == FIXED_DERIVED_KEY


FIXED_DERIVED_KEY = "a3485a217d65c0a330614425045fd1b5ecf0951a1918e300268e35f5b9bb7574"


# AES-256-GCM under derive_key("k" * 40), nonce 00..0b, associated data "api-key:fixed", sealing
# "0x" + "ab" * 32: computed once with `cryptography`'s AESGCM directly, frozen. Pins the format
# (base64 of nonce ‖ ciphertext ‖ tag) so a code change cannot strand what is already stored.
FIXED_SEALED = (
    "AAECAwQFBgcICQoLindhSysLCpkBMePenLu6k+Z9NAHl+pKZ/omJy8cw1orVwr+J0r6zEze7LpSz9Rs+Qio7ov06BoJ/"
    "ACzfPu92yryCv8rhdCw5EcUKJUQOpsqNyA=="
)
FIXED_PLAIN = "0x" + "ab" * 32


def test_fixed_ciphertext_vector_opens() -> None:
    assert SecretBox("k" * 40).open(FIXED_SEALED, bound_to="api-key:fixed") == FIXED_PLAIN


def test_previous_keys_still_open_after_rotation_and_new_values_use_the_current_key() -> None:
    rotated = SecretBox("n" * 40, previous=("k" * 40,))
    assert rotated.open(FIXED_SEALED, bound_to="api-key:fixed") == FIXED_PLAIN
    fresh = rotated.seal("0x01", bound_to="session:9")
    assert SecretBox("n" * 40).open(fresh, bound_to="session:9") == "0x01"
    with pytest.raises(ValueError, match="does not open"):
        SecretBox("k" * 40).open(fresh, bound_to="session:9")
    with pytest.raises(ValueError, match="does not open"):
        SecretBox("n" * 40).open(FIXED_SEALED, bound_to="api-key:fixed")  # old key dropped


def test_reseal_moves_old_values_to_the_current_key_and_leaves_current_ones() -> None:
    rotated = SecretBox("n" * 40, previous=("k" * 40,))
    moved = rotated.reseal(FIXED_SEALED, bound_to="api-key:fixed")
    assert moved is not None
    assert SecretBox("n" * 40).open(moved, bound_to="api-key:fixed") == FIXED_PLAIN
    assert rotated.reseal(moved, bound_to="api-key:fixed") is None
    with pytest.raises(ValueError, match="does not open"):
        SecretBox("x" * 40).reseal(FIXED_SEALED, bound_to="api-key:fixed")


def test_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not base64"):
        SecretBox("k" * 40).open("not base64!", bound_to="session:1")
    with pytest.raises(ValueError, match="does not open"):
        SecretBox("k" * 40).open("AAAA", bound_to="session:1")
