"""The one rule for text a client sends: Unicode scalar values, and no NUL.

JSON may carry a lone surrogate (`"\\ud800"`): Python decodes it into a `str` that cannot be
encoded to UTF-8, so it would fail deep inside (an HMAC payload, a database driver) as a 500.
PostgreSQL cannot store NUL in text at all. Both are refused where text enters: every string of
a legacy JSON body and every GraphQL string literal and variable (`resolvers.arguments`), and
what an opaque cursor decodes to. Code below the edge may rely on it.
"""

from __future__ import annotations

from .errors import AppError, bad_input


def text_problem(value: str) -> str | None:
    """What is wrong with `value` as text, or None. Cheap for ASCII, the common case."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (text must be Unicode scalar values)"
    return None


def bad_text(value: object, where: str) -> AppError | None:
    """The refusal for the first bad string anywhere in a JSON value (keys too), or None."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return bad_input(f"{where} {problem}")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def check_clean_text(value: object, where: str) -> None:
    """Raise `bad_text`'s refusal, if any."""
    refusal = bad_text(value, where)
    if refusal is not None:
        raise refusal
