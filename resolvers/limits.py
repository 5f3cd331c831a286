"""What one GraphQL document may cost: tokens, depth, aliases, directives, introspection.

- Tokens are a parse option (strawberry's `MaxTokensLimiter`): a longer document is refused while
  it is being parsed, so it never reaches validation, whose cost grows with the square of the
  number of fields (graphql-core's overlapping-fields rule): at the default 300 tokens the worst
  valid document costs ~16 ms to validate, at 500 it was ~45 ms (bench/hostile.py). GraphiQL's
  full introspection query is 184 tokens; the onboarding mutation with every field about 130.
- Depth, aliases and directives are measured by `DocumentLimits`, one validation rule. It measures
  each fragment once (memoised), so a "fragment bomb" (fragments spreading the next one twice,
  k levels deep) costs k steps, not 2^k: strawberry's own `QueryDepthLimiter` and
  `MaxAliasesLimiter` re-walk a fragment at every spread and spend seconds on a 700-byte bomb.
  A document over a limit aborts validation at once (`ValidationAbortedError`, graphql-core's own
  way to stop), before the expensive rules run.
- Introspection fields (`__schema`, `__type`) do not count towards depth (GraphiQL's query nests
  `ofType` nine levels); graphql-core's `MaxIntrospectionDepthRule`, one of its standard rules,
  bounds them instead, and `NoSchemaIntrospectionCustomRule` refuses them when introspection is off.

`validation_rules` is called once per schema and the same rule classes reach every request
through one `AddValidationRules` factory, so the `ValidationCache` key stays the same from request
to request (a limiter built per request makes every request a cache miss: strawberry #4635).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from graphql.validation.validate import ValidationAbortedError


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """Defaults fit every honest operation with room to spare (see the module docstring)."""

    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 300
    max_directives: int = 4
    introspection: bool = True
    field_suggestions: bool = True
    cache_size: int = 128
    """Entries in each of the parse and validation LRU caches. A cached document near the token
    limit holds ~200 KB (its AST keeps every token), so this bounds them to ~25 MB."""


@dataclass(frozen=True, slots=True)
class Cost:
    """What a selection set expands to: longest field path, aliases (with repeats), directives."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    """The most directives on any one selection."""

    def beside(self, other: Cost) -> Cost:
        """The cost of two sibling selections."""
        return Cost(
            depth=max(self.depth, other.depth),
            aliases=self.aliases + other.aliases,
            directives=max(self.directives, other.directives),
        )


class _Measure:
    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._done: dict[str, Cost] = {}
        self._open: set[str] = set()

    def fragment(self, name: str) -> Cost:
        """Measured once; a cycle or an unknown name counts nothing (other rules refuse those)."""
        if name in self._done:
            return self._done[name]
        definition = self._fragments.get(name)
        if definition is None or name in self._open:
            return Cost()
        self._open.add(name)
        cost = self._done[name] = self.selections(definition.selection_set)
        self._open.discard(name)
        return cost

    def selections(self, selection_set: SelectionSetNode | None) -> Cost:
        cost = Cost()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            else:
                assert isinstance(selection, FieldNode | InlineFragmentNode)
                inner = self.selections(selection.selection_set)
            directives = max(len(selection.directives or ()), inner.directives)
            if isinstance(selection, FieldNode):
                # Below `__schema`/`__type` only MaxIntrospectionDepthRule bounds the depth.
                depth = 1 if selection.name.value.startswith("__") else 1 + inner.depth
                aliases = inner.aliases + (selection.alias is not None)
                inner = Cost(depth=depth, aliases=aliases, directives=directives)
            else:
                inner = Cost(depth=inner.depth, aliases=inner.aliases, directives=directives)
            cost = cost.beside(inner)
        return cost


def measure(document: DocumentNode) -> Cost:
    """The cost of a document: its operations' deepest field path, and its aliases counted as
    executing it would meet them (a fragment spread twice counts twice)."""
    measure = _Measure(document)
    cost = Cost()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            cost = cost.beside(measure.selections(definition.selection_set))
    return cost


def document_limits_rule(limits: GraphQLLimits) -> type[ValidationRule]:
    class DocumentLimits(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            cost = measure(node)
            for what, value, limit in (
                ("query depth", cost.depth, limits.max_depth),
                ("alias count", cost.aliases, limits.max_aliases),
                ("directives on one field", cost.directives, limits.max_directives),
            ):
                if value > limit:
                    raise ValidationAbortedError(f"{what} {value} is over the limit of {limit}")

    return DocumentLimits


def validation_rules(limits: GraphQLLimits) -> tuple[type[ASTValidationRule], ...]:
    """The rules `limits` add to the standard ones; build once per schema and reuse."""
    rules: list[type[ASTValidationRule]] = [document_limits_rule(limits)]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)
