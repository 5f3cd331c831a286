"""Error shaping: every error leaves with a stable `extensions.code`; unexpected ones are masked.

- `AppError` (expected refusals) pass through with their own code.
- Request-level errors (no `path`): parse → GRAPHQL_PARSE_FAILED, validation →
  GRAPHQL_VALIDATION_FAILED, variable coercion → BAD_USER_INPUT.
- A database that cannot be reached → SERVICE_UNAVAILABLE.
- Anything else raised in a resolver is a bug: logged with the request id, shown as
  "Internal server error" with that request id and no detail.
- With `hide_suggestions` (production), request errors lose their "Did you mean …?" tails, which
  would otherwise spell out the schema that disabled introspection hides.
- A variable that does not coerce is named with its path, never quoted: graphql-core appends the
  offending input ("…, found: {…}"), which for `onboard` is a still-valid, unspent signature.
- Every operation that is refused (any error with a code other than INTERNAL_SERVER_ERROR, which
  is logged with its trace) leaves one `refused` log line: codes, operation name, client address;
  the request id comes with every line. Nothing is logged for an operation without errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from models.db import unavailable_refusal
from models.errors import AppError, ErrorCode

log = logging.getLogger("onboarding.graphql")
refusals = logging.getLogger("onboarding.refusals")
_SUGGESTION = " Did you mean"
# graphql-core's coercion messages end with the value: "…, found: <value>.", or, from a built-in
# scalar or enum, "… cannot represent <what>: <value>". (Our own scalars never quote it.)
_FOUND = re.compile(r"[,;]? [Ff]ound: .*\Z", re.DOTALL)
_REPRESENT = re.compile(r"(cannot represent [^:]*): .*\Z", re.DOTALL)
_NOT_IN_ENUM = re.compile(r"Value '.*' does not exist in '(\w+)' enum", re.DOTALL)


def without_values(message: str) -> str:
    """A coercion error that says which variable (and path) is wrong and why, quoting nothing."""
    cut = _REPRESENT.sub(r"\1", _FOUND.sub("", message))
    cut = _NOT_IN_ENUM.sub(r"not a value of enum '\1'", cut)
    return cut if cut.endswith((".", "?")) else cut + "."


def log_refusal(
    route: str, codes: Iterable[str], client_ip: str | None, operation: str | None = None
) -> None:
    """The one line a refused request leaves (the request id rides on every line)."""
    fields: dict[str, object] = {"route": route, "code": ",".join(dict.fromkeys(codes))}
    if operation is not None:
        fields["operation"] = operation
    fields["client"] = client_ip or "-"
    refusals.info("refused", extra={"fields": fields})


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
            codes = [
                code
                for error in result.errors
                if (code := (error.extensions or {}).get("code")) != ErrorCode.INTERNAL_SERVER_ERROR
            ]
            if codes:
                context = self.execution_context
                log_refusal(
                    "/graphql",
                    map(str, codes),
                    getattr(context.context, "client_ip", None),
                    context.operation_name,
                )

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
            message = (
                error.message
                if code is not ErrorCode.BAD_USER_INPUT
                else without_values(error.message)
            )
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
