"""Reading GraphQL connections in tests."""

from __future__ import annotations

from typing import Any


def nodes(connection: dict[str, Any]) -> list[Any]:
    """The nodes of one page of a connection (`edges { node { … } }`), in order."""
    return [edge["node"] for edge in connection["edges"]]


def page(fields: str) -> str:
    """The selection of a connection's nodes: `{ edges { node { <fields> } } }`."""
    return f"{{ edges {{ node {{ {fields} }} }} }}"
