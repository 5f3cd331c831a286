"""Error shaping: every error leaves with a stable `extensions.code`; unexpected ones are masked.

- `AppError` (expected refusals) pass through with their own code.
- Request-level errors (no `path`): parse → GRAPHQL_PARSE_FAILED, validation →
  GRAPHQL_VALIDATION_FAILED, variable coercion → BAD_USER_INPUT.
- A database that cannot be reached → SERVICE_UNAVAILABLE.
- Anything else raised in a resolver is a bug: logged with the request id, shown as
  "Internal server error" with that request id and no detail.
- With `hide_suggestions` (production), request errors lose their "Did you mean …?" tails, which
  would otherwise spell out the schema that disabled introspection hides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from models.db import unavailable_refusal
from models.errors import AppError, ErrorCode

log = logging.getLogger("onboarding.graphql")
_SUGGESTION = " Did you mean"


class ErrorShaping(SchemaExtension):
    def __init__(self, *, hide_suggestions: bool = False) -> None:
        self._validated = False
        self._hide_suggestions = hide_suggestions

    def on_validate(self) -> Iterator[None]:
        yield
        self._validated = not self.execution_context.pre_execution_errors

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [self._shape(error) for error in result.errors]

    def _shape(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, AppError):
            return error
        if error.path is None:
            if self.execution_context.graphql_document is None:
                code = ErrorCode.GRAPHQL_PARSE_FAILED
            elif not self._validated:
                code = ErrorCode.GRAPHQL_VALIDATION_FAILED
            else:
                code = ErrorCode.BAD_USER_INPUT
            message = error.message
            if self._hide_suggestions:
                message = message.split(_SUGGESTION, 1)[0].rstrip()
            return _with_code(error, message, code)
        refusal = unavailable_refusal(original) if original is not None else None
        if refusal is not None:
            return _with_code(error, refusal.message, refusal.code)
        request_id = getattr(self.execution_context.context, "request_id", "-")
        log.error(
            "unexpected error in %s (request %s)",
            ".".join(map(str, error.path)),
            request_id,
            exc_info=original or error,
        )
        return _with_code(
            error,
            f"Internal server error (request id {request_id})",
            ErrorCode.INTERNAL_SERVER_ERROR,
            requestId=request_id,
        )


def _with_code(error: GraphQLError, message: str, code: ErrorCode, **extra: str) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), "code": code.value, **extra},
    )
