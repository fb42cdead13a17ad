"""Filters across foreign keys: ``Post.filter(author__name="x")``, ``Comment.filter(post__author__name="x")``.

A filter key whose first part names a foreign key (``author`` or ``author_id``) and whose next part names a
field of the target model becomes a correlated ``EXISTS`` over the target table::

    EXISTS (SELECT rel_user.id FROM rel_user WHERE rel_user.id = rel_post.author_id AND rel_user.name = $1)

Deeper paths nest one ``EXISTS`` per foreign key. Because ``EXISTS`` is always true or false, ``exclude()``
and ``~Q(...)`` keep the rows whose key is NULL (no related row, so "the author's name is x" is false), and the
statement keeps one cached shape per key. A part that is a lookup of the key itself (``author_id__in``,
``author__isnull``) stays a plain lookup: lookups win over target fields of the same name.

Only foreign keys are followed. Inverse foreign keys and many-to-many raise ``QueryError`` pointing at
``Exists(...)`` with ``OuterRef``; keys into another database raise ``QueryError`` too.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from ..exceptions import QueryError, UnknownFieldError
from .q import Q
from .subqueries import Exists

if TYPE_CHECKING:
    from ..relations.spec import FKSpec

__all__ = ["RelationExists", "relation_condition", "relation_path", "rewrite_relations"]

_paths: dict[tuple[type, str], tuple[FKSpec, str] | None] = {}


class RelationExists(Exists):
    """The ``EXISTS`` standing for one ``fk__field=value`` filter; its repr shows the filter as written."""

    def __init__(self, queryset: Any, key: str, value: Any) -> None:
        super().__init__(queryset)
        self.key = key
        self.value = value

    def __invert__(self) -> Exists:
        inverted = RelationExists(self.queryset, self.key, self.value)
        inverted.negated = not self.negated
        return inverted

    def __repr__(self) -> str:
        return f"{'~' if self.negated else ''}{self.key}={self.value!r}"


def relation_path(model: type, key: str) -> tuple[FKSpec, str] | None:
    """``"author__name__icontains"`` → (the ``author`` foreign key, ``"name__icontains"``); None when ``key``
    does not cross a foreign key. Raises for an unknown field at the end of the path, and for relations that
    cannot be filtered across."""
    cache_key = (model, key)
    if cache_key in _paths:
        return _paths[cache_key]
    from .compiler import remember

    return remember(_paths, cache_key, _find(model, key))


def _find(model: type, key: str) -> tuple[FKSpec, str] | None:
    from ..relations.spec import foreign_key
    from .lookups import lookup_names

    name, _, rest = key.partition("__")
    if not rest:
        return None
    meta = model._meta  # type: ignore[attr-defined]
    spec = foreign_key(model, name)  # type: ignore[arg-type]
    if spec is None:
        if name not in meta.fields:
            _refuse_other_relation(model, name, key)
        return None
    head = rest.partition("__")[0]
    lookups = lookup_names(spec.field)
    if head in lookups:
        return None  # author_id__in=..., author__isnull=True: a lookup on the key itself
    target = spec.target
    target_meta = target._meta
    if head not in target_meta.fields and head not in target_meta.relation_aliases:
        if difflib.get_close_matches(head, lookups, n=1) and not difflib.get_close_matches(
            head, target_meta.field_names, n=1
        ):
            return None  # a mistyped lookup: the compiler's UnknownLookupError names the close ones
        raise UnknownFieldError(
            name=head,
            choices=[*target_meta.field_names, *target_meta.relation_aliases],
            model=target.__name__,
            details={"filter": key, "via": f"{meta.model_name}.{spec.name}"},
        )
    if spec.cross_database or target_meta.unfetchable:
        where = "another database" if spec.cross_database else "an _unfetchable model"
        raise QueryError(
            f"cannot filter across '{name}' in '{key}': it points at {where}; filter on the key instead, "
            f"e.g. {spec.name}__in=await {target.__name__}.filter(...).values_list("
            f"'{spec.target_field.name}', flat=True)",
            model=meta.model_name,
        )
    return spec, rest


def _refuse_other_relation(model: type, name: str, key: str) -> None:
    """A key starting with an inverse foreign key or many-to-many name: say how to write it instead."""
    from ..relations.m2m import many_to_many
    from ..relations.spec import inverse_foreign_key

    meta = model._meta  # type: ignore[attr-defined]
    kind = None
    if name in meta.inverse_foreign_keys and inverse_foreign_key(model, name) is not None:  # type: ignore[arg-type]
        kind = "an inverse foreign key"
    elif many_to_many(model, name) is not None:  # type: ignore[arg-type]
        kind = "a many-to-many relation"
    if kind is not None:
        raise QueryError(
            f"cannot filter across '{name}' in '{key}': it is {kind}, and filters follow foreign keys only; "
            "use Exists(Related.filter(<key>=OuterRef('id'), ...)) instead",
            model=meta.model_name,
        )


def relation_condition(model: type, key: str, value: Any) -> RelationExists | None:
    """The ``EXISTS`` condition for a filter crossing a foreign key, or None for a plain filter key."""
    found = relation_path(model, key)
    if found is None:
        return None
    from .builder import QueryBuilder
    from .expressions import OuterRef

    spec, rest = found
    correlation = Q((spec.target_field.name, OuterRef(spec.name)))  # both names are known to exist
    inner = (
        QueryBuilder(spec.target)
        ._with(where=(correlation,))
        .filter(**{rest: value})  # checked; deeper paths are rewritten again by the inner filter()
    )
    return RelationExists(inner, key, value)


def rewrite_relations(model: type, node: Q) -> Q:
    """``node`` with every ``fk__field=value`` child replaced by its ``EXISTS``; ``node`` itself when none."""
    children: list[Any] = []
    changed = False
    for child in node.children:
        new = child
        if isinstance(child, Q):
            new = rewrite_relations(model, child)
        elif isinstance(child, tuple) and len(child) == 2 and isinstance(child[0], str) and "__" in child[0]:
            found = relation_condition(model, child[0], child[1])
            if found is not None:
                new = found
        changed = changed or new is not child
        children.append(new)
    if not changed:
        return node
    copy = node._copy()
    copy.children = children
    return copy


def values_path_error(model: type, name: str) -> UnknownFieldError:
    """The error for ``values("author__name")``: values() reads the model's own fields and annotations."""
    from ..relations.spec import foreign_key

    meta = model._meta  # type: ignore[attr-defined]
    head, _, rest = name.partition("__")
    spec = foreign_key(model, head)  # type: ignore[arg-type]
    message = ""
    if spec is not None:
        target = spec.target.__name__
        label = rest.replace("__", "_")
        message = (
            f"values() reads the fields and annotations of {meta.model_name}; '{name}' follows the foreign key "
            f"'{spec.alias}', which values() does not join. Annotate the related value instead: "
            f".annotate({spec.alias}_{label}=Subquery({target}.filter({spec.target_field.name}="
            f"OuterRef('{spec.name}')).select('{rest.partition('__')[0]}'))), or load rows with "
            f"select_related('{spec.alias}') and read instance.get_related('{spec.alias}')"
        )
    return UnknownFieldError(message, name=name, choices=meta.field_names, model=meta.model_name)
