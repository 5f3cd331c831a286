"""Prometheus metrics, served at `GET /metrics`.

One process uses prometheus-client's default registry. Several workers (`serve --workers N`) use
its multiprocess mode: `serve` points `PROMETHEUS_MULTIPROC_DIR` at an empty directory before any
worker starts, each worker writes its samples to files there, and `/metrics` (whichever worker
answers) sums them all, so totals are right however requests spread. prometheus-client picks its
mode when it is first imported; that is why `api.cli` imports this module only after setting up.

Labels stay bounded, whatever clients send: routes are route templates ("unmatched" otherwise),
HTTP methods outside the standard ones are "other", GraphQL operation names must look like
GraphQL names and only the first `MAX_OPERATION_NAMES` distinct ones per worker are kept
("other" after that), onboarding outcomes are "OK" or a code of the `ErrorCode` registry, proof
kinds are the three of `ProofKind`, chain ids are the configured ones.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from models.errors import ErrorCode
from models.wallet import ProofKind
from resolvers.execution import Kept

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MAX_OPERATION_NAMES = 200
ONBOARD_FIELD = "onboard"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_operation_names: set[str] = set()

DB_STATEMENTS = Counter(
    "onboarding_db_statements", "SQL statements the service executed (every engine, every query)."
)
HTTP_REQUESTS = Counter(
    "onboarding_http_requests",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "onboarding_http_request_duration_seconds",
    "Time from request to the end of the response, by method and route template.",
    ["method", "route"],
)
GRAPHQL_OPERATIONS = Counter(
    "onboarding_graphql_operations",
    "GraphQL operations by name, type and outcome (ok, or error when any error came back).",
    ["operation", "type", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "onboarding_graphql_operation_duration_seconds",
    "Time to parse, validate and execute a GraphQL operation, by name and type.",
    ["operation", "type"],
)
ONBOARD_OUTCOMES = Counter(
    "onboarding_onboard_outcomes",
    "onboard mutations by outcome: OK, or the error code the client got.",
    ["code"],
)
ONBOARD_PROOFS = Counter(
    "onboarding_onboard_proofs",
    "Onboardings (both routes) by how the wallet proved itself: ecdsa, eip1271 or eip6492.",
    ["kind"],
)
CHAIN_CALL_DURATION = Histogram(
    "onboarding_chain_call_duration_seconds",
    "Round trips to a chain node (one per contract-wallet proof), by chain id and outcome "
    "(ok, or unavailable: CHAIN_UNAVAILABLE).",
    ["chain_id", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def record_chain_call(chain_id: int, outcome: str, seconds: float) -> None:
    CHAIN_CALL_DURATION.labels(str(chain_id), outcome).observe(seconds)


def record_proof(kind: ProofKind) -> None:
    _child(ONBOARD_PROOFS, kind.value).inc()


def record_onboard_outcome(code: str) -> None:
    """One onboarding (either route) by the code the client saw, `OK` when it succeeded."""
    _child(ONBOARD_OUTCOMES, code).inc()


_children: dict[tuple[object, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, looked up once: `labels()` checks and converts its arguments and
    takes a lock on every call. The label sets are bounded (module docstring), so is this."""
    key = (id(metric), *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def render() -> bytes:
    """The exposition text: this process's registry, or every worker's files summed."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def metrics_endpoint(_: Request) -> Response:
    return Response(render(), media_type=CONTENT_TYPE_LATEST)


def record_http_request(scope: Scope, status: int, seconds: float) -> None:
    """Count and time a finished request by the route template it matched."""
    method = scope["method"] if scope["method"] in _METHODS else "other"
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    _child(HTTP_REQUESTS, method, route, str(status)).inc()
    _child(HTTP_DURATION, method, route).observe(seconds)


class GraphQLMetrics(SchemaExtension):
    """Counts and times operations, and onboarding outcomes by the code the client saw.

    Pass it to `build_schema(observers=…)`: it must wrap error shaping to see the final codes.
    """

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        name = _operation_label(context.operation_name)
        kind, onboard_keys = _operation_facts(context)
        result = context.result
        errors = result.errors if result is not None else None
        _child(GRAPHQL_OPERATIONS, name, kind, "error" if errors else "ok").inc()
        _child(GRAPHQL_DURATION, name, kind).observe(time.perf_counter() - started)
        for key in onboard_keys:
            record_onboard_outcome(_outcome(errors, key))


def _operation_label(name: str | None) -> str:
    if name is None:
        return "anonymous"
    if not _GRAPHQL_NAME.fullmatch(name):
        return "other"
    if name not in _operation_names and len(_operation_names) >= MAX_OPERATION_NAMES:
        return "other"
    _operation_names.add(name)
    return name


_Facts = tuple[str, tuple[str, ...]]
_FACTS: Kept[_Facts] = Kept(1024)


def _operation_facts(context: ExecutionContext) -> _Facts:
    """The operation's type and its root `onboard` response keys, found once per (document,
    operation name): the parsed document comes back from the parser cache for the same text."""
    document = context.graphql_document
    if document is None:
        return "unknown", ()
    key, facts = _FACTS.get((document,), context.operation_name)
    if facts is None:
        facts = _operation_type(context), tuple(_onboard_response_keys(context))
        _FACTS.put(key, (document,), facts)
    return facts


def _operation_type(context: ExecutionContext) -> str:
    try:
        return context.operation_type.value
    except RuntimeError:  # no document (parse error) or no such operation
        return "unknown"


def _onboard_response_keys(context: ExecutionContext) -> list[str]:
    """Response keys (alias or name) of the `onboard` fields at the root of the operation."""
    document = context.graphql_document
    if document is None:
        return []
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    wanted = context.operation_name
    chosen = [op for op in operations if wanted is None or (op.name and op.name.value == wanted)]
    if len(chosen) != 1:
        return []
    return [
        (field.alias or field.name).value
        for field in chosen[0].selection_set.selections
        if isinstance(field, FieldNode) and field.name.value == ONBOARD_FIELD
    ]


_KNOWN_CODES = frozenset(member.value for member in ErrorCode)


def _outcome(errors: list[Any] | None, key: str) -> str:
    for error in errors or ():
        if not error.path or error.path[0] == key:
            code = (error.extensions or {}).get("code")
            if isinstance(code, str) and code in _KNOWN_CODES:
                return code
            return "INTERNAL_SERVER_ERROR"
    return "OK"
