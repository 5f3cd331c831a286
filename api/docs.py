"""Generated documentation: `docs/errors.md` from the one error registry (`models.errors`).

`make docs` rewrites the file; `tests/test_docs.py` fails while the committed one differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from models.errors import REGISTRY, ErrorCode, ErrorDoc, Surface

ERRORS_MD = Path(__file__).resolve().parent.parent / "docs" / "errors.md"

_INTRO = """\
# Error codes

<!-- Generated from models/errors.py by `make docs`; edit the registry, not this file. -->

Every refusal carries a stable code: `extensions.code` on `/graphql`, and the start of the
`error` text (`"CODE: what to fix"`) in the legacy REST envelope. The message says what to fix;
it never repeats a secret or the value you sent. A refused request changes nothing in the
database. Nothing a client sends produces a 5xx other than `SERVICE_UNAVAILABLE` (the database is
down) and `INTERNAL_SERVER_ERROR` (a bug).

How a code reaches a `/graphql` caller:

- **200 (field)**: a field error. The field is null, the rest of `data` stays, HTTP 200.
- **400 / 200 (request)**: a request error, nothing ran and there is no `data`: HTTP 400 with
  `Accept: application/graphql-response+json`, HTTP 200 with `application/json` (as the
  GraphQL-over-HTTP specification asks, for older clients).
- **a status**: the HTTP status itself, with a GraphQL-shaped body (`RATE_LIMITED` also sends
  `Retry-After`).

On the legacy routes (`POST /onboarding`, `POST /jwt`, `GET /account`, `GET /account/validate`,
`GET /srvtimestamp`) the status comes from the code. The original exchange answers every refusal
with 400; official clients read only the body, so we keep its body and use the code's status.
A body over `ONBOARDING_MAX_BODY_BYTES` is refused with 413 before any code is chosen.

| code | `/graphql` | legacy REST | meaning | fix |
|---|---|---|---|---|
"""


def _graphql(code: ErrorCode, doc: ErrorDoc) -> str:
    shown = {
        Surface.FIELD: "200 (field)",
        Surface.REQUEST: "400 / 200 (request)",
        Surface.HTTP: str(doc.status),
    }
    return ", ".join(shown[surface] for surface in doc.graphql) or "—"


def errors_markdown() -> str:
    rows = [
        f"| `{code}` | {_graphql(code, doc)} | {doc.status if doc.legacy else '—'} "
        f"| {doc.meaning} | {doc.fix} |"
        for code, doc in sorted(REGISTRY.items())
    ]
    return _INTRO + "\n".join(rows) + "\n"


def main() -> None:
    ERRORS_MD.write_text(errors_markdown())
    print(f"wrote {ERRORS_MD}", file=sys.stderr)


if __name__ == "__main__":
    main()
