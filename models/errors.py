"""The one registry of error codes clients may see, and the exception that carries them.

Every expected refusal is an `AppError`; anything else is a bug and gets masked by the caller.
GraphQL copies `extensions` from the original exception, so the code reaches `extensions.code`;
the legacy REST layer writes `"<CODE>: <message>"` and picks the HTTP status from the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    SIGNATURE_MISMATCH = "SIGNATURE_MISMATCH"
    SIGNATURE_EXPIRED = "SIGNATURE_EXPIRED"
    TIMESTAMP_TOO_FAR = "TIMESTAMP_TOO_FAR"
    SIGNATURE_REPLAYED = "SIGNATURE_REPLAYED"
    UNSUPPORTED_EXCHANGE = "UNSUPPORTED_EXCHANGE"
    UNSUPPORTED_PROFILE_TYPE = "UNSUPPORTED_PROFILE_TYPE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    REFRESH_TOKEN_NOT_FOUND = "REFRESH_TOKEN_NOT_FOUND"  # noqa: S105 - a code, not a secret
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"  # noqa: S105
    REFRESH_FAMILY_EXPIRED = "REFRESH_FAMILY_EXPIRED"
    """The refresh family is older than `refresh_family_ttl`: onboard (prove the wallet) again."""
    WALLET_PROOF_REQUIRED = "WALLET_PROOF_REQUIRED"
    """Managing API keys needs a session minted from a wallet proof, not from an API key."""
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    FORBIDDEN = "FORBIDDEN"
    MAX_SECRETS_EXCEED = "MAX_SECRETS_EXCEED"
    NO_SUCH_KEY = "NO_SUCH_KEY"
    KEY_EXPIRED = "KEY_EXPIRED"
    NOT_YOUR_KEY = "NOT_YOUR_KEY"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    INVALID_PAYLOAD_SIGNATURE = "INVALID_PAYLOAD_SIGNATURE"
    NOT_ALLOWED_FOR_IP = "NOT_ALLOWED_FOR_IP"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PROFILE_NOT_FOUND = "PROFILE_NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    BAD_REQUEST = "BAD_REQUEST"
    NOT_FOUND = "NOT_FOUND"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    CONTRACT_WALLET_UNSUPPORTED = "CONTRACT_WALLET_UNSUPPORTED"
    CHAIN_UNAVAILABLE = "CHAIN_UNAVAILABLE"
    CONTRACT_WALLET_REVERTED = "CONTRACT_WALLET_REVERTED"
    CONTRACT_WALLET_WRONG_ANSWER = "CONTRACT_WALLET_WRONG_ANSWER"
    CONTRACT_WALLET_NO_ANSWER = "CONTRACT_WALLET_NO_ANSWER"
    CONTRACT_WALLET_OUT_OF_GAS = "CONTRACT_WALLET_OUT_OF_GAS"

    @property
    def http_status(self) -> int:
        """The HTTP status a REST caller sees for this code (400 for a code the registry lacks,
        which tests/test_docs.py refuses anyway: a missing entry must never turn into a 500)."""
        doc = REGISTRY.get(self)
        return 400 if doc is None else doc.status


class Surface(StrEnum):
    """How a code reaches a `/graphql` caller."""

    FIELD = "field"
    """A field error: HTTP 200, the field is null, the rest of `data` stays."""
    REQUEST = "request"
    """A request error, nothing ran: no `data`; HTTP 400 (graphql-response+json) or 200 (json)."""
    HTTP = "http"
    """The HTTP status itself (`status`), still with a GraphQL-shaped body."""


@dataclass(frozen=True, slots=True)
class ErrorDoc:
    """What a code means and how to fix it: docs/errors.md is generated from these."""

    meaning: str
    fix: str
    status: int = 400
    """HTTP status on the legacy routes, and of an HTTP-level refusal on `/graphql`."""
    graphql: tuple[Surface, ...] = (Surface.FIELD,)
    """Empty: never seen on `/graphql`."""
    legacy: bool = True
    """Seen on the legacy REST routes."""


_FIELD, _REQUEST, _HTTP = (Surface.FIELD,), (Surface.REQUEST,), (Surface.HTTP,)
_AGAIN = "sign a new message with a timestamp in the next 10 minutes"

REGISTRY: dict[ErrorCode, ErrorDoc] = {
    ErrorCode.BAD_USER_INPUT: ErrorDoc(
        "An argument or field is malformed: a wallet, signature or timestamp that does not parse, "
        "a value out of bounds, a variable that does not coerce to its type.",
        "Read the message: it names the field and the rule (never the value you sent).",
        graphql=(Surface.FIELD, Surface.REQUEST),
    ),
    ErrorCode.SIGNATURE_EXPIRED: ErrorDoc(
        "The signed timestamp is not after the server's time (the message gives it).",
        f"Correct your clock with `serverTime` / `SRV-TIMESTAMP` and {_AGAIN}.",
    ),
    ErrorCode.TIMESTAMP_TOO_FAR: ErrorDoc(
        "The signed timestamp is more than the signature lifetime (600 s) ahead; often "
        "milliseconds sent where seconds belong.",
        f"Send unix seconds; {_AGAIN}.",
    ),
    ErrorCode.SIGNATURE_MISMATCH: ErrorDoc(
        "The signature was not made by the wallet over this text and timestamp (the message "
        "names the address it recovers).",
        "Sign `<sign-in text>\\n<timestamp>` of this exchange with the wallet you name.",
    ),
    ErrorCode.SIGNATURE_REPLAYED: ErrorDoc(
        "This proof has already onboarded once (single-use signatures).",
        "Sign a new message.",
    ),
    ErrorCode.UNSUPPORTED_EXCHANGE: ErrorDoc(
        "Unknown exchange id (`exchangeId`, header `EID`).",
        "Use one of the ids `exchanges` lists.",
    ),
    ErrorCode.UNSUPPORTED_PROFILE_TYPE: ErrorDoc(
        "Only trader and vault profiles may onboard themselves.",
        "Send `TRADER` (the default) or `VAULT`.",
    ),
    ErrorCode.UNAUTHENTICATED: ErrorDoc(
        "No, an invalid, expired or revoked access JWT (or a refresh token sent as one) on an "
        "operation that needs a session. (`me` answers null instead.)",
        "Send `Authorization: Bearer <jwt>`; refresh it, or onboard again.",
        status=401,
        legacy=False,
    ),
    ErrorCode.REFRESH_TOKEN_NOT_FOUND: ErrorDoc(
        "Not a refresh token, expired, or its session has ended (logout).",
        "Onboard again.",
        status=401,
    ),
    ErrorCode.REFRESH_TOKEN_REUSED: ErrorDoc(
        "The refresh token was already spent: every session of its family is now revoked.",
        "Onboard again; serialise refreshes (one tab refreshes, the others wait).",
        status=401,
    ),
    ErrorCode.SERVICE_UNAVAILABLE: ErrorDoc(
        "The database cannot be reached or did not answer in time.",
        "Retry later; operators: check `/readyz` and the database.",
        status=503,
    ),
    ErrorCode.INTERNAL_SERVER_ERROR: ErrorDoc(
        "A bug. The message carries a request id; the trace is logged under it.",
        "Report the request id.",
        status=500,
    ),
    ErrorCode.GRAPHQL_PARSE_FAILED: ErrorDoc(
        "The document does not parse, or has more tokens than allowed.",
        "Fix the syntax, or send a smaller document.",
        graphql=_REQUEST,
        legacy=False,
    ),
    ErrorCode.GRAPHQL_VALIDATION_FAILED: ErrorDoc(
        "The document does not validate against the schema, or is over a limit (depth, aliases, "
        "directives, list cost).",
        "Fix the document; `schema.graphql` is the schema.",
        graphql=_REQUEST,
        legacy=False,
    ),
    ErrorCode.FORBIDDEN: ErrorDoc(
        "An admin operation without the admin token (or with the admin API off), or the API keys "
        "of a profile that is not the caller's (the admin token included).",
        "Send `Authorization: Bearer <admin token>` for admin operations; list keys as owner.",
        status=403,
        legacy=False,
    ),
    ErrorCode.MAX_SECRETS_EXCEED: ErrorDoc(
        "The profile already has 100 live API keys.",
        "Revoke keys you no longer use.",
        legacy=False,
    ),
    ErrorCode.NO_SUCH_KEY: ErrorDoc(
        "Unknown API key, or a revoked one.",
        "Use a live key; create a new one, or onboard again.",
        status=401,
    ),
    ErrorCode.KEY_EXPIRED: ErrorDoc(
        "The API key has expired (it cannot be renewed either).",
        "Create a new key, or onboard again as a market maker.",
        status=401,
    ),
    ErrorCode.NOT_YOUR_KEY: ErrorDoc(
        "The key belongs to another profile.",
        "Manage only your own keys.",
        legacy=False,
    ),
    ErrorCode.NOT_AUTHENTICATED: ErrorDoc(
        "A signed legacy call without credentials (`RBT-API-KEY`, or the session JWT) or with "
        "a dead session.",
        "Send the API key, or the JWT as the `jwt` cookie or `RBT-JWT`.",
        status=401,
        graphql=(),
    ),
    ErrorCode.INVALID_PAYLOAD_SIGNATURE: ErrorDoc(
        "`RBT-SIGNATURE` is missing or is not the HMAC of this call's payload.",
        "Sign `key=value` of the sorted body keys plus `method` and `path`, then `RBT-TS`.",
        status=401,
        graphql=(),
    ),
    ErrorCode.NOT_ALLOWED_FOR_IP: ErrorDoc(
        "The call came from outside the API key's `allowedIps` (a signed legacy call, or a "
        "session minted from that key, on any route).",
        "Call from an allowed address, or change the key's allow-list.",
        status=403,
    ),
    ErrorCode.METHOD_NOT_ALLOWED: ErrorDoc(
        "A method the route does not take (a mutation over GET on `/graphql`).",
        "Use the method `Allow` names.",
        status=405,
        graphql=_HTTP,
    ),
    ErrorCode.PROFILE_NOT_FOUND: ErrorDoc(
        "An admin write names a profile id that does not exist.",
        "Use an id `profiles` lists.",
        status=404,
        legacy=False,
    ),
    ErrorCode.CONFLICT: ErrorDoc(
        "An order or position id, or a notification key, already belongs to another profile.",
        "Ids are global: use a new one.",
        status=409,
        legacy=False,
    ),
    ErrorCode.RATE_LIMITED: ErrorDoc(
        "Too many onboardings from this address or for this wallet, or too many API keys "
        "created for this profile.",
        "Wait `Retry-After` seconds (`extensions.retryAfter` too).",
        status=429,
        graphql=_HTTP,
    ),
    ErrorCode.BAD_REQUEST: ErrorDoc(
        "The HTTP request itself is wrong: unreadable JSON, a list (batching is off), a bad "
        "`operationName`.",
        "Send one JSON object in UTF-8.",
        graphql=_HTTP,
        legacy=False,
    ),
    ErrorCode.NOT_FOUND: ErrorDoc(
        "Nothing here (e.g. `GET /graphql` without a query when the explorer is off).",
        "Check the path and method.",
        status=404,
        graphql=_HTTP,
        legacy=False,
    ),
    ErrorCode.NOT_ACCEPTABLE: ErrorDoc(
        "`Accept` allows neither `application/graphql-response+json` nor `application/json`.",
        "Accept one of them.",
        status=406,
        graphql=_HTTP,
        legacy=False,
    ),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorDoc(
        "A POST body that is not `application/json` in UTF-8.",
        "Send `Content-Type: application/json`.",
        status=415,
        graphql=_HTTP,
        legacy=False,
    ),
    ErrorCode.REFRESH_FAMILY_EXPIRED: ErrorDoc(
        "The refresh token's family is older than its absolute lifetime "
        "(`ONBOARDING_REFRESH_FAMILY_TTL`, 30 days): refreshing cannot extend a sign-in forever.",
        "Onboard again (prove the wallet).",
        status=401,
    ),
    ErrorCode.WALLET_PROOF_REQUIRED: ErrorDoc(
        "Managing API keys (create, renew, revoke, `logoutEverywhere(revokeApiKeys: true)`) "
        "needs a session minted from a wallet proof or its refresh family, not from an API key.",
        "Onboard as a client (or refresh that session) and manage keys with its JWT.",
        status=403,
        legacy=False,
    ),
    ErrorCode.CONTRACT_WALLET_UNSUPPORTED: ErrorDoc(
        "The wallet is not proven by an ECDSA signature, and this exchange has no chain node "
        "configured to ask a contract wallet (`exchanges { contractWallets }` is false).",
        "Sign with the wallet's key (EOA); operators: set `ONBOARDING_CHAIN_RPC_URLS`.",
    ),
    ErrorCode.CHAIN_UNAVAILABLE: ErrorDoc(
        "The chain node a contract-wallet proof needs is down, slow or answered garbage; "
        "nothing was written.",
        "Retry after `Retry-After` seconds (`extensions.retryAfter`) with a new signature.",
        status=503,
    ),
    ErrorCode.CONTRACT_WALLET_REVERTED: ErrorDoc(
        "The wallet contract (or the EIP-6492 validator) reverted: the signature is not valid "
        "for it (the message gives the revert reason, e.g. a Safe's `GS026`).",
        "Sign with the wallet's owners (enough of them for its threshold) over the sign-in text.",
    ),
    ErrorCode.CONTRACT_WALLET_WRONG_ANSWER: ErrorDoc(
        "The wallet contract answered something other than the EIP-1271 magic value `0x1626ba7e`.",
        "Sign with the wallet's owners; check that the wallet implements EIP-1271.",
    ),
    ErrorCode.CONTRACT_WALLET_NO_ANSWER: ErrorDoc(
        "The wallet contract returned nothing to `isValidSignature` (it does not implement "
        "EIP-1271).",
        "Use a wallet that implements EIP-1271, or sign with an EOA.",
    ),
    ErrorCode.CONTRACT_WALLET_OUT_OF_GAS: ErrorDoc(
        "The wallet contract burnt all the gas a verification may use "
        "(`ONBOARDING_CHAIN_CALL_GAS`).",
        "Use a wallet whose check is cheaper, or sign with an EOA.",
    ),
}


class AppError(Exception):
    """An expected refusal: a stable code plus a message that says what to fix. Never a secret."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extensions: dict[str, object] = {"code": code.value}
        self.retry_after = retry_after
        """Whole seconds after which a retry may succeed (HTTP `Retry-After`, `retryAfter`)."""
        if retry_after is not None:
            self.extensions["retryAfter"] = retry_after

    @property
    def legacy_text(self) -> str:
        """The REST `error` text: the code first, so clients can match on it."""
        return f"{self.code}: {self.message}"


def bad_input(message: str) -> AppError:
    return AppError(ErrorCode.BAD_USER_INPUT, message)
