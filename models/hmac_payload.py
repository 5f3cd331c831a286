"""Request signing of the legacy REST API (spec §6): pure functions, no I/O.

A signed request carries `RBT-TS` (the signature's expiry, unix seconds) and `RBT-SIGNATURE`:

    P   = "".join(f"{key}={encode(value)}" for key in sorted(fields)) + str(RBT-TS)
    sig = "0x" + hex(HMAC_SHA256(key=bytes.fromhex(secret without "0x"), msg=SHA256(P)))

`fields` is the JSON body plus `method` (upper-case HTTP method) and `path` (the route path, e.g.
`/jwt`); GET requests sign only `method` and `path`. The server takes `method` and `path` from the
request it actually received, so a signature cannot be moved to another route.

How values are written was checked against the official clients, because the server must
reproduce byte for byte what they hash:

- Python client (rabbitx-io/rabbitx-python-client, `rabbitx/payload.py`, `Payload.hash`): keys in
  sorted order; a `bool` is written `true`/`false`; a `list` as Python's `str(list)` with every
  single quote turned into a double quote (so `["a", "b"]`, `[1, 2.5]`, which is JSON text for
  lists of strings and numbers); everything else with `str()`: strings without quotes, ints as
  digits, floats in Python's shortest repr (`0.1`, `100.0`, `1e-07`), `None` as `None`, a dict as
  its Python repr. No separator between pairs; the timestamp is appended as decimal digits; the
  HMAC is lower-case hex with a `0x` prefix.
- Go client (strips-finance/rabbitx-go-client, `auth.PayloadSignature`): the same construction
  over a `map[string]string` (Go sorts keys by bytes, which for UTF-8 is code-point order).

`encode` follows the Python client exactly, applied to the body as `json.loads` decodes it: the
client's values survive its own JSON encoding unchanged, so the server hashes what the client
hashed. The odd cases (`None`, nested dicts, booleans inside lists written `True`) are kept as the
client writes them rather than "fixed", since a fix would break every signature that uses them.
Likewise the pairs have no separator, so distinct bodies can share a text (`{"a": "1b=2"}` and
`{"a": "1", "b": "2"}`); routes read only the fields they know, and `method`/`path` are always
the server's own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def encode(value: object) -> str:
    """One value as the official Python client writes it into the signed text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return str(value).replace("'", '"')
    return str(value)


def signed_fields(body: Mapping[str, object], method: str, path: str) -> dict[str, object]:
    """What a request signs: its JSON body, with the request's own method and route path."""
    return {**body, "method": method.upper(), "path": path}


def payload_text(fields: Mapping[str, object], timestamp: int) -> str:
    """P: sorted `key=value` pairs, no separators, then the timestamp."""
    pairs = "".join(f"{key}={encode(fields[key])}" for key in sorted(fields))
    return f"{pairs}{timestamp}"


def payload_digest(fields: Mapping[str, object], timestamp: int) -> bytes:
    """SHA-256 of P: the message the HMAC is taken over."""
    return hashlib.sha256(payload_text(fields, timestamp).encode("utf-8")).digest()


def sign(fields: Mapping[str, object], timestamp: int, secret: str) -> str:
    """`0x` + 64 lower-case hex: HMAC-SHA256 of SHA-256(P), keyed by the hex-decoded secret."""
    key = bytes.fromhex(secret.removeprefix("0x"))
    return "0x" + hmac.new(key, payload_digest(fields, timestamp), hashlib.sha256).hexdigest()


def signature_matches(
    fields: Mapping[str, object], timestamp: int, secret: str, signature: str
) -> bool:
    """Constant-time comparison; hex case does not matter."""
    expected = sign(fields, timestamp, secret).encode()
    return hmac.compare_digest(expected, signature.lower().encode("utf-8"))
