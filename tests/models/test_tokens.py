from __future__ import annotations

import time

import jwt as pyjwt
import pytest

from models.errors import AppError, ErrorCode
from models.tokens import TokenSigner, TokenType, key_id, new_api_key, new_hmac_secret, token_hash

SECRET = "a-test-secret-long-enough-for-hs256-and-even-for-hs512-" + "x" * 16
OLD_SECRET = "the-previous-secret-also-long-enough-for-hs256"


def issue(signer: TokenSigner, token_type: TokenType = TokenType.ACCESS, *, ttl: int = 60) -> str:
    return signer.issue(
        profile_id=7, session_id="s1", token_type=token_type, now=int(time.time()), ttl=ttl
    )


def refused(signer: TokenSigner, token: str, token_type: TokenType = TokenType.ACCESS) -> None:
    with pytest.raises(AppError) as error:
        signer.verify(token, token_type)
    assert error.value.code is ErrorCode.UNAUTHENTICATED


def test_round_trip_and_claims() -> None:
    signer = TokenSigner(SECRET)
    token = issue(signer)
    claims = signer.verify(token, TokenType.ACCESS)
    assert (claims.profile_id, claims.session_id, claims.token_type) == (7, "s1", TokenType.ACCESS)
    assert pyjwt.get_unverified_header(token) == {
        "alg": "HS256",
        "typ": "JWT",
        "kid": key_id(SECRET),
    }


def test_types_are_not_interchangeable() -> None:
    signer = TokenSigner(SECRET)
    refused(signer, issue(signer, TokenType.REFRESH), TokenType.ACCESS)
    refused(signer, issue(signer, TokenType.ACCESS), TokenType.REFRESH)


def test_expired_tampered_and_foreign_tokens_are_refused() -> None:
    signer = TokenSigner(SECRET)
    refused(signer, issue(signer, ttl=-10))
    header, payload, signature = issue(signer).split(".")
    refused(signer, f"{header}.{payload}.{signature[:-4]}AAAA")
    refused(signer, issue(TokenSigner("another-secret-entirely-of-sufficient-length")))
    refused(signer, "not a jwt")


def test_the_algorithm_is_pinned() -> None:
    signer = TokenSigner(SECRET)
    claims = {"sub": "7", "sid": "s1", "typ": "access", "iat": 0, "exp": 2**40, "jti": "x"}
    refused(
        signer, pyjwt.encode(claims, SECRET, algorithm="HS512", headers={"kid": key_id(SECRET)})
    )
    unsigned = pyjwt.encode(claims, None, algorithm="none", headers={"kid": key_id(SECRET)})
    refused(signer, unsigned)


def test_previous_keys_still_verify_after_rotation() -> None:
    old_token = issue(TokenSigner(OLD_SECRET))
    rotated = TokenSigner(SECRET, previous=(OLD_SECRET,))
    assert rotated.verify(old_token, TokenType.ACCESS).profile_id == 7
    refused(TokenSigner(SECRET), old_token)


def test_random_credentials_have_the_original_formats() -> None:
    assert len(new_api_key()) == 44
    secret = new_hmac_secret()
    assert secret.startswith("0x")
    assert len(secret) == 66
    assert secret == secret.lower()
    assert new_hmac_secret() != secret
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_tokens_are_byte_for_byte_those_of_pyjwt_encode() -> None:
    """The signer's prepared HS256 key changes no byte: same header, payload and signature."""
    signer = TokenSigner(SECRET)
    for token_type in TokenType:
        token = issue(signer, token_type)
        claims = pyjwt.decode(token, SECRET, algorithms=["HS256"])
        expected = pyjwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": key_id(SECRET)})
        assert token == expected


def test_an_asymmetric_or_empty_signing_key_is_still_refused() -> None:
    pem = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
    )
    for key in ("", pem):
        with pytest.raises(pyjwt.InvalidKeyError):
            TokenSigner(key)
