"""The pure rules of API keys: tags, lifetimes, allow-lists, derived status."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.api_keys import effective_status, parse_networks, validate_days, validate_tag
from models.enums import ApiKeyStatus
from models.errors import AppError, ErrorCode
from models.tables import ApiKey


def refused(hint: str) -> pytest.RaisesExc[AppError]:
    return pytest.raises(AppError, match=hint)


@pytest.mark.parametrize("tag", ["a", "bot-1", "x" * 64, "müller ✓"])
def test_tags_of_1_to_64_printable_characters_are_kept_as_sent(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    ("tag", "hint"),
    [("", "1–64 characters"), ("x" * 65, "1–64 characters"), ("a\nb", "control characters")],
)
def test_bad_tags_are_refused(tag: str, hint: str) -> None:
    with refused(hint) as error:
        validate_tag(tag)
    assert error.value.code is ErrorCode.BAD_USER_INPUT


@pytest.mark.parametrize("days", [1, 180, 365])
def test_days_within_1_to_365(days: int) -> None:
    assert validate_days(days) == days


@pytest.mark.parametrize("days", [-1, 0, 366, 10_000])
def test_days_outside_are_refused(days: int) -> None:
    with refused("between 1 and 365"):
        validate_days(days)


def test_networks_are_normalised_deduplicated_and_ordered() -> None:
    assert parse_networks(
        ["203.0.113.0/24", " 198.51.100.7 ", "2001:DB8::/32", "203.0.113.0/24", "::1"]
    ) == ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32", "::1/128"]
    assert parse_networks([]) == []


@pytest.mark.parametrize(
    ("cidr", "hint"),
    [
        ("10.0.0.1/24", "did you mean 10.0.0.0/24"),
        ("300.1.1.1", "not an IP address or CIDR"),
        ("10.0.0.0/33", "not an IP address or CIDR"),
        ("example.com", "not an IP address or CIDR"),
        ("", "not an IP address or CIDR"),
    ],
)
def test_bad_networks_are_refused_with_a_hint(cidr: str, hint: str) -> None:
    with refused(hint):
        parse_networks([cidr])


def test_the_allow_list_is_bounded() -> None:
    with refused("at most 100"):
        parse_networks([f"10.0.{i // 256}.{i % 256}" for i in range(101)])


NETWORKS = st.one_of(
    st.builds(
        lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
        st.ip_addresses(v=4),
        st.integers(0, 32),
    ),
    st.builds(
        lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
        st.ip_addresses(v=6),
        st.integers(0, 128),
    ),
)


@given(NETWORKS)
def test_any_valid_network_round_trips(network: ipaddress.IPv4Network) -> None:
    assert parse_networks([str(network)]) == [network.with_prefixlen]


def test_expired_is_derived_and_revoked_wins() -> None:
    key = ApiKey(key="k", profile_id=1, secret_sealed="-", expiration=1000)
    assert effective_status(key, now_s=999) is ApiKeyStatus.API_GEN
    assert effective_status(key, now_s=1000) is ApiKeyStatus.EXPIRED
    key.status = ApiKeyStatus.REVOKED.value
    assert effective_status(key, now_s=999) is ApiKeyStatus.REVOKED
