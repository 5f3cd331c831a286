"""`schema.graphql` is the committed contract: it must equal what the code builds."""

from pathlib import Path

from resolvers.schema import schema

SDL = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    assert SDL.read_text() == schema.as_str() + "\n", (
        "schema.graphql is out of date: run `make schema` and review the diff"
    )
