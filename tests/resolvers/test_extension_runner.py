"""The schema's own extension runner: hooks run in order around each phase, as strawberry's do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension

from resolvers.schema import build_schema


class _Ctx:
    request_id = "runner"
    client_ip = None


def _recording(name: str, log: list[str]) -> type[SchemaExtension]:
    class Recording(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append(f"{name} operation")
            yield
            log.append(f"{name} operation done")

        def on_execute(self) -> Iterator[None]:
            log.append(f"{name} execute")
            yield
            log.append(f"{name} execute done")

    return Recording


def test_hooks_nest_in_order_and_see_the_result() -> None:
    log: list[str] = []
    schema = build_schema(observers=(_recording("a", log),), extensions=(_recording("b", log),))
    result = asyncio.run(schema.execute("{ serverTime }", context_value=_Ctx()))
    assert result.errors is None
    assert log == [
        "a operation",
        "b operation",
        "a execute",
        "b execute",
        "b execute done",
        "a execute done",
        "b operation done",
        "a operation done",
    ]


def test_async_hooks_still_run() -> None:
    log: list[str] = []

    class Async(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            log.append("before")
            yield
            log.append("after")

    schema = build_schema(extensions=(Async,))
    result = asyncio.run(schema.execute("{ serverTim }", context_value=_Ctx()))
    assert result.errors
    assert result.errors[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert log == ["before", "after"]


def test_a_phase_with_one_hook_runs_it_around_the_phase() -> None:
    """One hook (execute here) is called without an exit stack: still entered and left."""
    log: list[str] = []
    schema = build_schema(extensions=(_recording("only", log),))
    result = asyncio.run(schema.execute("{ serverTime }", context_value=_Ctx()))
    assert result.errors is None
    assert log == ["only operation", "only execute", "only execute done", "only operation done"]


def test_a_hook_failing_on_the_way_out_fails_the_operation() -> None:
    class Failing(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            yield
            raise RuntimeError("hook failed")

    schema = build_schema(extensions=(Failing,))
    result = asyncio.run(schema.execute("{ serverTime }", context_value=_Ctx()))
    assert result.data is None
    assert [error.message for error in result.errors or ()] == ["hook failed"]


def test_results_and_resolve_hooks_of_extensions_still_count() -> None:
    """Extensions without results or `resolve` hooks are skipped; ones with them are not."""

    class Results(SchemaExtension):
        def get_results(self) -> dict[str, object]:
            return {"seen": True}

    resolved: list[str] = []

    class Watching(SchemaExtension):
        def resolve(self, _next, root, info, *args, **kwargs):  # type: ignore[no-untyped-def]
            resolved.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    plain = build_schema()
    schema = build_schema(extensions=(Results, Watching))
    quiet = asyncio.run(plain.execute("{ serverTime }", context_value=_Ctx()))
    assert quiet.errors is None
    assert quiet.extensions == {}
    result = asyncio.run(schema.execute("{ serverTime }", context_value=_Ctx()))
    assert result.errors is None
    assert result.extensions == {"seen": True}
    assert resolved == ["serverTime"]


def _failing_operation(log: list[str]) -> type[SchemaExtension]:
    class FailingOperation(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append("failing entered")
            yield
            log.append("failing leaving")
            raise RuntimeError("hook failed")

    return FailingOperation


def test_two_operation_hooks_nest_and_a_failing_one_fails_the_operation() -> None:
    """Production's operation phase has two hooks (metrics around error shaping): they nest as
    two `with` statements, whichever of them fails on the way out."""
    for place in ("observers", "extensions"):
        log: list[str] = []
        failing = {place: (_failing_operation(log),)}
        schema = build_schema(**failing)  # type: ignore[arg-type]
        result = asyncio.run(schema.execute("{ serverTime }", context_value=_Ctx()))
        assert result.data is None, place
        assert [error.message for error in result.errors or ()] == ["hook failed"], place
        assert log == ["failing entered", "failing leaving"], place

    log = []
    schema = build_schema(observers=(_recording("outer", log),))
    result = asyncio.run(schema.execute("{ serverTime }", context_value=_Ctx()))
    assert result.errors is None
    assert log[0] == "outer operation"
    assert log[-1] == "outer operation done"


def test_an_operation_hook_that_swallows_an_error_swallows_it_in_either_place() -> None:
    """As with two `with` statements: a refusal raised inside the operation phase (no query)
    is swallowed by a hook that swallows it, inner or outer (strawberry then has no result)."""

    class Swallowing(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            with contextlib.suppress(Exception):
                yield

    for place in ("observers", "extensions"):
        schema = build_schema(**{place: (Swallowing,)})  # type: ignore[arg-type]
        with pytest.raises(UnboundLocalError):
            asyncio.run(schema.execute(None, context_value=_Ctx()))
    with pytest.raises(MissingQueryError):
        asyncio.run(build_schema().execute(None, context_value=_Ctx()))
