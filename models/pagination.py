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

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

ORDER_HISTORY = "orders"
PROFILES = "profiles"
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


def _storable(text: str) -> bool:
    """What an id column can hold: no NUL, and UTF-8-encodable (JSON escapes can spell a lone
    surrogate, which a driver would fail to send)."""
    return "\x00" not in text and not any("\ud800" <= char <= "\udfff" for char in text)


def decode_order_cursor(cursor: str) -> tuple[int, str]:
    """(created_at, id) of the last order seen."""
    key = _decode(ORDER_HISTORY, cursor)
    match key:
        case [int() as created_at, str() as order_id] if (
            _int64(created_at) and len(order_id) <= 64 and _storable(order_id)
        ):
            return created_at, order_id
    raise bad_input(f"`after` is not a cursor of this list ({ORDER_HISTORY})")


def decode_profile_cursor(cursor: str) -> int:
    """Id of the last profile seen."""
    key = _decode(PROFILES, cursor)
    match key:
        case [int() as profile_id] if _int64(profile_id):
            return profile_id
    raise bad_input(f"`after` is not a cursor of this list ({PROFILES})")
