"""Relay-style connections (`edges { cursor node } pageInfo { … }`) over keyset pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

NodeT = TypeVar("NodeT")


@strawberry.type(description="Where a page sits in its list. Paginate forward with `after`.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="True when this page was asked for `after` a cursor."
    )
    start_cursor: str | None
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; null on an empty page."
    )


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque; only meaningful as `after` of this list.")
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo


def connection(
    nodes: Sequence[NodeT],
    first: int,
    cursor_of: Callable[[NodeT], str],
    *,
    after: str | None,
) -> Connection[NodeT]:
    """`nodes` holds up to `first + 1` items: one more than the page proves a next page exists."""
    edges = [Edge(cursor=cursor_of(node), node=node) for node in nodes[:first]]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(nodes) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
