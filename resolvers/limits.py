"""What one GraphQL document may cost: tokens, depth, aliases, directives, introspection.

- Tokens are a parse option (graphql-core's `max_tokens`, set by `DocumentCache`): a longer
  document is refused while it is being parsed, so it never reaches validation, whose cost grows
  with the square of the number of fields (graphql-core's overlapping-fields rule): at the
  default 300 tokens the worst valid document costs ~16 ms to validate, at 500 it was ~45 ms
  (bench/hostile.py). GraphiQL's full introspection query is 184 tokens; the onboarding mutation
  with every field about 130.
- Depth, aliases and directives are measured by `DocumentLimits`, one validation rule. It measures
  each fragment once (memoised), so a "fragment bomb" (fragments spreading the next one twice,
  k levels deep) costs k steps, not 2^k: strawberry's own `QueryDepthLimiter` and
  `MaxAliasesLimiter` re-walk a fragment at every spread and spend seconds on a 700-byte bomb.
  A document over a limit aborts validation at once (`ValidationAbortedError`, graphql-core's own
  way to stop), before the expensive rules run.
- List items are measured by the same walk (`Cost.items`): the most list entries a document can
  return, a page counting its `first` (a variable `first` counts as the most it may be, an
  absent one as its default) and a capped list its cap, times the lists it is nested in. The
  default budget (`ONBOARDING_GRAPHQL_MAX_LIST_ITEMS`, 2 000) is four times the onboarding
  payload with every list at its largest (500); 15 aliases of `me { orders positions }` (3 000)
  are refused, and so is an admin page of 100 profiles with their embedded lists (docs/limits.md).
- Introspection fields (`__schema`, `__type`) do not count towards depth (GraphiQL's query nests
  `ofType` nine levels); graphql-core's `MaxIntrospectionDepthRule`, one of its standard rules,
  bounds them instead, and `NoSchemaIntrospectionCustomRule` refuses them when introspection is off.

`DocumentCache` keeps, per schema and by document text, the parsed document and its validation
errors: the rules are built once per schema (`validation_rules`) and validation depends on
nothing else, so the text is the whole key. strawberry's `ValidationCache` keys an `lru_cache`
on the document itself, and graphql-core's AST nodes hash recursively: every lookup walked the
whole document.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    get_named_type,
    parse,
    specified_rules,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from graphql.validation.validate import ValidationAbortedError
from strawberry.schema.schema import validate_document

from .arguments import ArgumentValues, argument_most, field_max_items


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """Defaults fit every honest operation with room to spare (see the module docstring)."""

    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 300
    max_directives: int = 4
    max_list_items: int = 2000
    """Most list entries one document may ask for (see `Cost.items`)."""
    introspection: bool = True
    field_suggestions: bool = True
    cache_size: int = 128
    """Documents (with their validation errors) the LRU `DocumentCache` keeps. A cached document
    near the token limit holds ~200 KB (its AST keeps every token), so this bounds it to ~25 MB."""


@dataclass(frozen=True, slots=True)
class Cost:
    """What a selection set expands to: longest field path, aliases (with repeats), directives."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    """The most directives on any one selection."""
    items: int = 0
    """The most list entries the selection can return (measured only with a schema)."""

    def beside(self, other: Cost) -> Cost:
        """The cost of two sibling selections."""
        return Cost(
            depth=max(self.depth, other.depth),
            aliases=self.aliases + other.aliases,
            directives=max(self.directives, other.directives),
            items=self.items + other.items,
        )


def list_size(field: GraphQLField, node: FieldNode) -> int | None:
    """How many entries `node` may return: a page's `first`, a capped list's cap, or None for
    a field that is not a bounded list (a plain value, or a list the server keeps small)."""
    first = field.args.get("first")
    most = argument_most(first)
    if first is not None and most is not None:
        given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
        if given is None:
            default = first.default_value
            return default if isinstance(default, int) else most
        if isinstance(given, IntValueNode) and int(given.value) <= most:
            return max(int(given.value), 0)
        return most  # a variable, or a value `ArgumentValues` refuses
    return field_max_items(field)


Parent = GraphQLNamedType | None
"""The type a selection set selects from; None where it is unknown (no schema, a bad name)."""


class _Measure:
    def __init__(self, document: DocumentNode, schema: GraphQLSchema | None) -> None:
        self._fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._schema = schema
        self._done: dict[str, Cost] = {}
        self._open: set[str] = set()

    def _type(self, name: str) -> Parent:
        return self._schema.get_type(name) if self._schema else None

    def fragment(self, name: str) -> Cost:
        """Measured once; a cycle or an unknown name counts nothing (other rules refuse those)."""
        if name in self._done:
            return self._done[name]
        definition = self._fragments.get(name)
        if definition is None or name in self._open:
            return Cost()
        self._open.add(name)
        parent = self._type(definition.type_condition.name.value)
        cost = self._done[name] = self.selections(definition.selection_set, parent)
        self._open.discard(name)
        return cost

    def field(self, node: FieldNode, parent: Parent) -> Cost:
        composite = isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
        definition = parent.fields.get(node.name.value) if composite else None  # type: ignore[union-attr]
        inner_type = get_named_type(definition.type) if definition else None
        inner = self.selections(node.selection_set, inner_type)
        size = list_size(definition, node) if definition else None
        # Below `__schema`/`__type` only MaxIntrospectionDepthRule bounds the depth.
        return Cost(
            depth=1 if node.name.value.startswith("__") else 1 + inner.depth,
            aliases=inner.aliases + (node.alias is not None),
            directives=max(len(node.directives or ()), inner.directives),
            items=inner.items if size is None else size * (1 + inner.items),
        )

    def selections(self, selection_set: SelectionSetNode | None, parent: Parent) -> Cost:
        cost = Cost()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                cost = cost.beside(self.field(selection, parent))
                continue
            if isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            else:
                assert isinstance(selection, InlineFragmentNode)
                condition = selection.type_condition
                inner_parent = self._type(condition.name.value) if condition else parent
                inner = self.selections(selection.selection_set, inner_parent)
            directives = max(len(selection.directives or ()), inner.directives)
            cost = cost.beside(
                Cost(
                    depth=inner.depth,
                    aliases=inner.aliases,
                    directives=directives,
                    items=inner.items,
                )
            )
        return cost


def measure(document: DocumentNode, schema: GraphQLSchema | None = None) -> Cost:
    """The cost of a document: its operations' deepest field path, and its aliases (and, with
    the schema, its list entries) counted as executing it would meet them (a fragment spread
    twice counts twice)."""
    measure = _Measure(document, schema)
    cost = Cost()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation) if schema else None
            cost = cost.beside(measure.selections(definition.selection_set, root))
    return cost


def document_limits_rule(limits: GraphQLLimits) -> type[ValidationRule]:
    class DocumentLimits(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            cost = measure(node, self.context.schema)
            for what, value, limit in (
                ("query depth", cost.depth, limits.max_depth),
                ("alias count", cost.aliases, limits.max_aliases),
                ("directives on one field", cost.directives, limits.max_directives),
                ("list entries asked for", cost.items, limits.max_list_items),
            ):
                if value > limit:
                    raise ValidationAbortedError(f"{what} {value} is over the limit of {limit}")

    return DocumentLimits


def validation_rules(limits: GraphQLLimits) -> tuple[type[ASTValidationRule], ...]:
    """The rules `limits` add to the standard ones; build once per schema and reuse."""
    rules: list[type[ASTValidationRule]] = [document_limits_rule(limits), ArgumentValues]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


class _Entry:
    __slots__ = ("document", "errors")

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.errors: list[GraphQLError] | None = None
        """Validation errors, once the document has been validated."""


class DocumentCache:
    """Parsed documents and their validation errors by document text, LRU, for one schema.

    A document that does not parse is not kept: `parse` answers None and strawberry's own parse
    step raises the error again, inside the path that shapes errors."""

    def __init__(self, schema: GraphQLSchema, limits: GraphQLLimits) -> None:
        self._schema = schema
        self._rules = (*specified_rules, *validation_rules(limits))
        self.max_tokens = limits.max_tokens
        self._size = limits.cache_size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def parse(self, text: str) -> DocumentNode | None:
        entry = self._entries.get(text)
        if entry is not None:
            self._entries.move_to_end(text)
            return entry.document
        try:
            document = parse(text, max_tokens=self.max_tokens)
        except GraphQLError:
            return None
        self._entries[text] = _Entry(document)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return document

    def validate(self, text: str, document: DocumentNode) -> list[GraphQLError]:
        """The validation errors of `document`, parsed from `text` (remembered for its entry)."""
        entry = self._entries.get(text)
        if entry is None or entry.document is not document:
            return validate_document(self._schema, document, self._rules)
        if entry.errors is None:
            entry.errors = validate_document(self._schema, document, self._rules)
        return entry.errors
