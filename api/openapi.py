"""The OpenAPI 3.1 document of the legacy REST routes, written to match the seed's shapes.

Schemas are closed (`additionalProperties: false`, every key required), so a test that validates
real responses against this document also proves they carry exactly the seed's keys. Amounts are
`number` or `string` following `ONBOARDING_LEGACY_DECIMALS`, as the responses are.
"""

from __future__ import annotations

from typing import Any

from .settings import LegacyDecimals

Schema = dict[str, Any]
_DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _closed(properties: dict[str, Schema], description: str = "") -> Schema:
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _envelope(item: Schema, description: str) -> Schema:
    return _closed(
        {
            "error": {"type": "string", "const": ""},
            "pagination": _ref("Pagination"),
            "result": {"type": "array", "items": item},
            "success": {"type": "boolean", "const": True},
        },
        description,
    )


def _schemas(decimals: LegacyDecimals) -> dict[str, Schema]:
    amount: Schema = (
        {"type": "string", "pattern": _DECIMAL_TEXT, "description": "An exact decimal."}
        if decimals is LegacyDecimals.STRING
        else {"type": "number", "description": "An exact decimal, written in plain notation."}
    )
    micros: Schema = {"type": "integer", "format": "int64", "description": "Microseconds."}
    seconds: Schema = {"type": "integer", "format": "int64", "description": "Unix seconds."}
    text: Schema = {"type": "string"}
    amounts = {"$ref": "#/components/schemas/Amount"}
    return {
        "Amount": amount,
        "Pagination": _closed(
            {
                "limit": {"type": "integer"},
                "order": {"type": "string", "enum": ["ASC", "DESC"]},
                "page": {"type": "integer", "minimum": 0},
                "total": {"type": "integer", "minimum": 0},
            }
        ),
        "Order": _closed(
            {
                "client_order_id": text,
                "created_at": micros,
                "id": text,
                "initial_size": amounts,
                "market_id": text,
                "order_type": text,
                "price": amounts,
                "profile_id": {"type": "integer"},
                "reason": text,
                "side": {"type": "string", "enum": ["long", "short"]},
                "size": amounts,
                "size_percent": amounts,
                "status": text,
                "time_in_force": text,
                "timestamp": micros,
                "total_filled_size": amounts,
                "trigger_price": amounts,
                "updated_at": micros,
            },
            "A resting order (open or placed). Missing prices are 0.",
        ),
        "Position": _closed(
            {
                "entry_price": amounts,
                "fair_price": amounts,
                "id": text,
                "liquidation_price": amounts,
                "margin": amounts,
                "market_id": text,
                "notional": amounts,
                "profile_id": {"type": "integer"},
                "side": {"type": "string", "enum": ["long", "short"]},
                "size": amounts,
                "unrealized_pnl": amounts,
            },
            "An open position.",
        ),
        "Notification": _closed({"description": text, "title": text, "type": text}),
        "Profile": _closed(
            {
                "account_equity": amounts,
                "account_leverage": amounts,
                "account_margin": amounts,
                "balance": amounts,
                "cum_trading_volume": amounts,
                "cum_unrealized_pnl": amounts,
                "health": amounts,
                "id": {"type": "integer"},
                "last_liq_check": micros,
                "last_update": micros,
                "leverage": {
                    "type": "object",
                    "additionalProperties": amounts,
                    "description": "Market id → leverage.",
                },
                "orders": {"type": "array", "items": _ref("Order")},
                "positions": {"type": "array", "items": _ref("Position")},
                "profile_notifications": {"type": "array", "items": _ref("Notification")},
                "profile_type": {"type": "string", "enum": ["trader", "vault", "insurance"]},
                "status": {"type": "string", "enum": ["active", "liquidating"]},
                "total_notional": amounts,
                "total_order_margin": amounts,
                "total_position_margin": amounts,
                "wallet": {"type": "string", "pattern": "^0x[0-9a-f]{40}$"},
                "withdrawable_balance": amounts,
            }
        ),
        "ApiSecret": _closed(
            {
                "Expiration": seconds,
                "Key": {"type": "string", "description": "Base64 of 32 random bytes."},
                "ProfileID": {"type": "integer"},
                "Secret": {"type": "string", "pattern": "^0x[0-9a-f]{64}$"},
                "Status": {"type": "string"},
                "Tag": {"type": "string"},
            }
        ),
        "ClientOnboarding": _closed(
            {
                "jwt": text,
                "profile": _ref("Profile"),
                "randomSecret": {"type": "string", "pattern": "^0x[0-9a-f]{64}$"},
                "refreshToken": text,
            },
            "A client session: sign later requests with randomSecret.",
        ),
        "MarketMakerOnboarding": _closed(
            {"apiSecret": _ref("ApiSecret"), "jwt": text, "profile": _ref("Profile")},
            "A market maker: sign later requests with RBT-API-KEY = Key and the Secret.",
        ),
        "ClientJwt": _closed(
            {
                "jwt": text,
                "random_secret": {"type": "string", "pattern": "^0x[0-9a-f]{64}$"},
                "refresh_token": text,
            }
        ),
        "MarketMakerJwt": _closed({"jwt": text}),
        "Validation": _closed({"expires_at": seconds, "profile_id": {"type": "integer"}}),
        "ErrorEnvelope": _closed(
            {
                "error": {
                    "type": "string",
                    "minLength": 1,
                    "description": "`CODE: what to fix`; match on the code.",
                },
                "pagination": _ref("Pagination"),
                "result": {"type": "array", "maxItems": 0},
                "success": {"type": "boolean", "const": False},
            }
        ),
        "OnboardingRequest": {
            "type": "object",
            "required": ["wallet", "signature"],
            "properties": {
                "wallet": {"type": "string", "pattern": "^0[xX][0-9a-fA-F]{40}$"},
                "signature": {
                    "type": "string",
                    "pattern": "^0[xX](?:[0-9a-fA-F]{2}){65,4096}$",
                    "description": (
                        "A key's signature, 0x + 130 hex (r‖s‖v); or a contract wallet's "
                        "(ERC-1271, or ERC-6492-wrapped when not deployed yet), 0x + up to 8192 "
                        "hex (docs/contract-wallets.md)."
                    ),
                },
                "is_client": {"type": "boolean", "default": False},
                "isClient": {"type": "boolean", "description": "Same as is_client."},
                "profile_type": {"type": "string", "enum": ["trader", "vault"]},
                "meta": {"type": "object", "description": "Referral data; not used."},
            },
        },
        "JwtRequest": {
            "type": "object",
            "properties": {
                "is_client": {"type": "boolean", "default": False},
                "refresh_token": {
                    "type": "string",
                    "description": "Clients: the refresh token (spent). Market makers: ignored.",
                },
                "method": {"type": "string"},
                "path": {"type": "string"},
            },
        },
    }


def _header(name: str, description: str, *, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": {"type": "string"},
        "description": description,
    }


RBT_TS = _header(
    "RBT-TS",
    "The signature's expiry, integer unix seconds, within the next signature TTL (600 s).",
    required=True,
)
SIGNING_HEADERS = [RBT_TS]  # the credentials themselves are the security schemes below
REQUEST_ID = _header("X-Request-ID", "Echoed back; minted when absent.")
SIGNING = (
    "Signed calls send RBT-TS and RBT-SIGNATURE = '0x' + hex(HMAC_SHA256(key=bytes.fromhex("
    "secret without 0x), msg=SHA256(P))), where P is the concatenation over the sorted keys of "
    "the JSON body plus `method` and `path` (the route, e.g. /jwt) of f'{key}={value}' "
    "(booleans true/false, strings unquoted, lists as JSON text), followed by RBT-TS. Market "
    "makers add RBT-API-KEY and sign with the API secret; clients send their JWT and sign with "
    "randomSecret."
)


def _json(schema: Schema, description: str) -> Schema:
    return {
        "description": description,
        "headers": {
            "SRV-TIMESTAMP": {
                "description": "Server time, unix seconds.",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "required": True,
            },
            "X-Request-ID": {"schema": {"type": "string"}, "required": True},
        },
        "content": {"application/json": {"schema": schema}},
    }


def _rate_limited(response: Schema) -> Schema:
    wait = {"description": "Whole seconds to wait.", "schema": {"type": "string"}, "required": True}
    return {**response, "headers": {**response["headers"], "Retry-After": wait}}


def _responses(ok: Schema, *statuses: str) -> dict[str, Schema]:
    """Success plus exactly the refusals this route can give (and the two anything can: 405 for
    a method it does not take, 500 for a bug)."""
    error = _ref("ErrorEnvelope")
    every = {
        "400": _json(error, "Malformed input: the `error` text names what to fix."),
        "401": _json(error, "Not authenticated: bad or missing credentials or signature."),
        "403": _json(error, "NOT_ALLOWED_FOR_IP: outside the API key's allow-list."),
        "405": _json(error, "METHOD_NOT_ALLOWED: the `Allow` header names the method."),
        "413": {"description": "The body is larger than the configured limit."},
        "429": _rate_limited(_json(error, "RATE_LIMITED: too many onboarding attempts.")),
        "500": _json(error, "A bug: the text carries a request id."),
        "503": _json(
            error,
            "The database, or the chain node a contract-wallet proof needs (CHAIN_UNAVAILABLE, "
            "with Retry-After), is unavailable; retry.",
        ),
    }
    wanted = sorted({*statuses, "405", "500"})
    return {
        "200": _json(ok, "Success: one envelope, `success: true`."),
        **{status: every[status] for status in wanted},
    }


SECURITY_SCHEMES: dict[str, Schema] = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "RBT-API-KEY",
        "description": "Market makers: the API key (`apiSecret.Key`), with `hmac`.",
    },
    "hmac": {
        "type": "apiKey",
        "in": "header",
        "name": "RBT-SIGNATURE",
        "description": "The HMAC of the call, with `RBT-TS`: " + SIGNING,
    },
    "rbtJwt": {
        "type": "apiKey",
        "in": "header",
        "name": "RBT-JWT",
        "description": "Clients: the access JWT, with `hmac` signed by its `randomSecret`.",
    },
    "jwtCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "jwt",
        "description": "Clients: the access JWT as the `jwt` cookie (as `rbtJwt`).",
    },
}
SIGNED: list[dict[str, list[str]]] = [
    {"apiKey": [], "hmac": []},
    {"rbtJwt": [], "hmac": []},
    {"jwtCookie": [], "hmac": []},
]
"""A signed call: a market maker's key or a client's JWT, and the HMAC either way."""


def openapi_document(decimals: LegacyDecimals) -> Schema:
    client_or_mm = {"oneOf": [_ref("ClientOnboarding"), _ref("MarketMakerOnboarding")]}
    return {
        "openapi": "3.1.0",
        "servers": [{"url": "/", "description": "The server that serves this document."}],
        "info": {
            "title": "onboarding-api legacy REST",
            "version": "1",
            "description": (
                "The exchange's original onboarding REST API. Every response is the envelope "
                "{error, pagination, result, success}, also a 405 for a method a route does not "
                "take. " + SIGNING
            ),
        },
        "paths": {
            "/onboarding": {
                "post": {
                    "operationId": "onboarding",
                    "summary": "Handle Onboarding request for both clients and market makers",
                    "parameters": [
                        RBT_TS,
                        _header("EID", "Exchange id (rbx, bfx, ...); default rbx."),
                        REQUEST_ID,
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref("OnboardingRequest")},
                        },
                    },
                    "responses": _responses(
                        _envelope(client_or_mm, "Clients also get the `jwt` cookie."),
                        *("400", "413", "429", "503"),
                    ),
                }
            },
            "/jwt": {
                "post": {
                    "operationId": "renewJwt",
                    "summary": "Renew a JWT (clients: rotate the session; market makers: new JWT)",
                    "parameters": [*SIGNING_HEADERS, REQUEST_ID],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("JwtRequest")}},
                    },
                    # A client's /jwt is signed with the randomSecret its refresh token names.
                    "security": [{"hmac": []}, *SIGNED],
                    "responses": _responses(
                        _envelope({"oneOf": [_ref("ClientJwt"), _ref("MarketMakerJwt")]}, "JWT"),
                        *("400", "401", "403", "413", "503"),
                    ),
                }
            },
            "/account": {
                "get": {
                    "operationId": "account",
                    "summary": "The caller's profile (signed)",
                    "parameters": [*SIGNING_HEADERS, REQUEST_ID],
                    "security": SIGNED,
                    "responses": _responses(
                        _envelope(_ref("Profile"), "[profile]"), "400", "401", "403", "503"
                    ),
                }
            },
            "/account/validate": {
                "get": {
                    "operationId": "validateJwt",
                    "summary": "Check that a JWT is a live access token",
                    "parameters": [
                        {"name": "jwt", "in": "query", "schema": {"type": "string"}},
                        _header("RBT-JWT", "The JWT, when not in the query."),
                        REQUEST_ID,
                    ],
                    # 403: a session minted from an API key is held to the key's allow-list.
                    "responses": _responses(
                        _envelope(_ref("Validation"), "Valid."), "400", "401", "403", "503"
                    ),
                }
            },
            "/srvtimestamp": {
                "get": {
                    "operationId": "serverTime",
                    "summary": "Server time in unix seconds",
                    "responses": _responses(_envelope({"type": "integer"}, "[unix seconds]")),
                }
            },
        },
        "components": {"schemas": _schemas(decimals), "securitySchemes": SECURITY_SCHEMES},
    }
