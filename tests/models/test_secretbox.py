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
