"""Keyset pagination: page sizes and opaque cursors.

A cursor names the last row a client has seen by its sort key (never an offset), so rows inserted
meanwhile neither repeat nor get skipped on the next page. It is URL-safe base64 of a small JSON
array whose first element names the connection, so a cursor from one list is refused by another.
Clients must treat cursors as opaque; the encoding may change.
"""

from __future__ import annotations

import base64
import binascii
import json

from .errors import bad_input
from .text import text_problem

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

EMBEDDED_ORDERS = 100
"""A profile's resting orders shown inline (GraphQL `orders`, legacy `orders`): the newest."""
EMBEDDED_POSITIONS = 100
"""A profile's open positions shown inline, by market. Figures always count every row."""
EMBEDDED_NOTIFICATIONS = 50
"""The newest notifications in the legacy profile (`profile_notifications`)."""

ORDER_HISTORY = "orders"
PROFILES = "profiles"
NOTIFICATIONS = "notifications"
API_KEYS = "api_keys"
_MAX_CURSOR_CHARS = 512
_INT64 = range(-(2**63), 2**63)


def page_size(first: int) -> int:
    """`first` as asked, refused outside 0..MAX_PAGE_SIZE rather than silently clamped."""
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise bad_input(f"first must be between 0 and {MAX_PAGE_SIZE}, got {first}")
    return first


def encode_cursor(kind: str, *key: int | str) -> str:
    # UTF-8, not \u escapes: a 64-character id stays well inside the cursor size cap.
    raw = json.dumps([kind, *key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(kind: str, cursor: str) -> list[object]:
    invalid = bad_input(f"`after` is not a cursor of this list ({kind}); pass an endCursor of it")
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise invalid from error
    if not isinstance(value, list) or not value or value[0] != kind:
        raise invalid
    return value[1:]


def _int64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in _INT64


def _time_and_text(kind: str, cursor: str) -> tuple[int, str]:
    match _decode(kind, cursor):
        case [int() as created_at, str() as text] if (
            _int64(created_at) and len(text) <= 64 and text_problem(text) is None
        ):
            return created_at, text
    raise bad_input(f"`after` is not a cursor of this list ({kind})")


def decode_order_cursor(cursor: str) -> tuple[int, str]:
    """(created_at, id) of the last order seen."""
    return _time_and_text(ORDER_HISTORY, cursor)


def decode_api_key_cursor(cursor: str) -> tuple[int, str]:
    """(created_at, key) of the last API key seen."""
    return _time_and_text(API_KEYS, cursor)


def decode_notification_cursor(cursor: str) -> tuple[int, int]:
    """(created_at, id) of the last notification seen."""
    match _decode(NOTIFICATIONS, cursor):
        case [int() as created_at, int() as notification_id] if _int64(created_at) and _int64(
            notification_id
        ):
            return created_at, notification_id
    raise bad_input(f"`after` is not a cursor of this list ({NOTIFICATIONS})")


def decode_profile_cursor(cursor: str) -> int:
    """Id of the last profile seen."""
    key = _decode(PROFILES, cursor)
    match key:
        case [int() as profile_id] if _int64(profile_id):
            return profile_id
    raise bad_input(f"`after` is not a cursor of this list ({PROFILES})")
