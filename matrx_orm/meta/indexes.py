"""``IndexDef`` and ``DDLGenerator.add_index``: index declarations, including pgvector HNSW / IVFFlat indexes.

An :class:`IndexDef` is validated when it is made (method, operator class, ``WITH`` parameters), then
turned into a SQLAlchemy ``Index`` (``postgresql_using`` / ``postgresql_with`` / ``postgresql_ops``) —
either on a model's table (``_indexes = [...]`` or ``class Meta: indexes = [...]``), so ``create_all`` and
Alembic autogenerate see it, or on a throwaway table for :meth:`DDLGenerator.add_index`, which compiles the
``CREATE INDEX`` statement with the PostgreSQL dialect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import quoted_name

from ..exceptions import FieldError, ParameterError, UnknownFieldError

if TYPE_CHECKING:
    from ..fields import Field

__all__ = ["DDLGenerator", "IndexDef", "VECTOR_METHODS", "VECTOR_OPS", "model_indexes", "vector_ops_for"]

#: index access methods PostgreSQL (and pgvector) provide
METHODS = ("btree", "hash", "gist", "gin", "spgist", "brin", "hnsw", "ivfflat")
VECTOR_METHODS = ("hnsw", "ivfflat")

#: operator classes per vector index method (pgvector 0.7+)
VECTOR_OPS: dict[str, frozenset[str]] = {
    "hnsw": frozenset(
        f"{kind}_{metric}_ops"
        for kind in ("vector", "halfvec", "sparsevec")
        for metric in ("l2", "ip", "cosine", "l1")
    )
    | {"bit_hamming_ops", "bit_jaccard_ops"},
    "ivfflat": frozenset(
        f"{kind}_{metric}_ops" for kind in ("vector", "halfvec") for metric in ("l2", "ip", "cosine")
    )
    | {"bit_hamming_ops"},
}

#: ``WITH`` parameters of the vector methods: name -> (minimum, maximum), as pgvector enforces them
VECTOR_PARAMS: dict[str, dict[str, tuple[int, int]]] = {
    "hnsw": {"m": (2, 100), "ef_construction": (4, 1000)},
    "ivfflat": {"lists": (1, 32768)},
}

#: ``sa.Index.info`` key of ``IndexDef(concurrently=True)`` (read by makemigrations)
CONCURRENTLY_INFO = "matrx_orm.concurrently"

_METRIC_OPS = {"l2": "l2", "cosine": "cosine", "inner": "ip", "ip": "ip", "l1": "l1"}
_PARAM_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def vector_ops_for(metric: str, kind: str = "vector") -> str:
    """The operator class that serves ``nearest(..., metric=metric)`` on a ``kind`` column.

    ``vector_ops_for("cosine")`` → ``"vector_cosine_ops"``; ``vector_ops_for("inner", "halfvec")`` →
    ``"halfvec_ip_ops"``.
    """
    suffix = _METRIC_OPS.get(metric)
    if suffix is None:
        raise ParameterError(f"unknown vector metric {metric!r}; expected one of l2, cosine, inner, l1")
    if kind not in ("vector", "halfvec", "sparsevec"):
        raise ParameterError(f"unknown vector column kind {kind!r}; expected vector, halfvec or sparsevec")
    return f"{kind}_{suffix}_ops"


@dataclass(frozen=True)
class IndexDef:
    """An index: ``name`` on ``table`` (``columns``), built with ``method``.

    * ``method``: ``"btree"`` (default), ``"hash"``, ``"gin"``, ``"gist"``, ``"spgist"``, ``"brin"``, or the
      pgvector methods ``"hnsw"`` / ``"ivfflat"`` (one column each).
    * ``vector_ops``: the pgvector operator class (``"vector_cosine_ops"``, ``"vector_l2_ops"``,
      ``"vector_ip_ops"``, ``"vector_l1_ops"``, ``halfvec_*`` / ``sparsevec_*`` / ``bit_*``); it must match
      the metric you search with. Omitted, pgvector uses the L2 class.
    * ``index_params``: the ``WITH (...)`` storage parameters — HNSW ``m`` (2-100, default 16) and
      ``ef_construction`` (4-1000, default 64, at least ``2 * m``); IVFFlat ``lists`` (1-32768). Other
      methods take any lower-case parameter with an int/float/bool value (``fillfactor``...).
    * ``unique``, ``where`` (a partial-index predicate: trusted SQL text or a SQLAlchemy expression),
      ``schema``.
    * ``concurrently``: ``makemigrations`` creates the index on an existing table with ``CREATE INDEX
      CONCURRENTLY`` inside Alembic's ``autocommit_block()`` (no write lock on a busy table); ``create_all``
      and new tables are unaffected.

    On a model (``_indexes = [IndexDef(...)]``) ``table`` may be left out and ``columns`` name fields; the
    name may be left out too (``<table>_<columns>_<method>_idx``).
    """

    name: str | None = None
    table: str | None = None
    columns: Sequence[str] = ()
    unique: bool = False
    method: str = "btree"
    where: str | Any | None = None
    vector_ops: str | None = None
    index_params: Mapping[str, Any] = field(default_factory=dict)
    schema: str | None = None
    concurrently: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.columns, str):
            object.__setattr__(self, "columns", (self.columns,))
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "index_params", dict(self.index_params or {}))
        if not self.columns or not all(isinstance(c, str) and c for c in self.columns):
            raise ParameterError(
                f"IndexDef {self.name!r} needs columns=[<column name>, ...]; got {self.columns!r}"
            )
        for label, value in (("name", self.name), ("table", self.table), ("schema", self.schema)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ParameterError(f"IndexDef {label} must be a non-empty string; got {value!r}")
        if self.method not in METHODS:
            raise ParameterError(f"IndexDef method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if not isinstance(self.unique, bool):
            raise ParameterError(f"IndexDef unique must be True or False; got {self.unique!r}")
        if self.method in VECTOR_METHODS:
            self._check_vector()
        else:
            if self.vector_ops is not None:
                raise ParameterError(
                    f"vector_ops applies to hnsw/ivfflat indexes, not method={self.method!r}"
                )
            self._check_generic_params()

    def _check_vector(self) -> None:
        method = self.method
        if len(self.columns) != 1:
            raise ParameterError(
                f"a {method} index covers exactly one vector column; got {list(self.columns)}"
            )
        if self.unique:
            raise ParameterError(f"a {method} index cannot be unique")
        if self.vector_ops is not None and self.vector_ops not in VECTOR_OPS[method]:
            raise ParameterError(
                f"vector_ops {self.vector_ops!r} is not an operator class of {method}; expected one of "
                + ", ".join(sorted(VECTOR_OPS[method]))
            )
        allowed = VECTOR_PARAMS[method]
        for key, value in self.index_params.items():
            if key not in allowed:
                raise ParameterError(
                    f"unknown {method} index parameter {key!r}; expected {', '.join(allowed)}"
                )
            low, high = allowed[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ParameterError(
                    f"{method} index parameter {key} must be an int in {low}..{high}; got {value!r}"
                )
        m = self.index_params.get("m", 16)
        ef = self.index_params.get("ef_construction", 64)
        if method == "hnsw" and ef < 2 * m:
            raise ParameterError(f"hnsw ef_construction ({ef}) must be at least 2 * m ({2 * m})")

    def _check_generic_params(self) -> None:
        for key, value in self.index_params.items():
            if not isinstance(key, str) or not _PARAM_NAME.match(key):
                raise ParameterError(f"index parameter names are lower-case identifiers; got {key!r}")
            if not isinstance(value, bool | int | float):
                raise ParameterError(f"index parameter {key} must be an int, float or bool; got {value!r}")

    # -- SQLAlchemy -----------------------------------------------------------------------------------------
    def dialect_options(self, column_key: str) -> dict[str, Any]:
        """``postgresql_*`` keyword arguments of ``sa.Index`` for this definition."""
        options: dict[str, Any] = {}
        if self.method != "btree":
            options["postgresql_using"] = self.method
        if self.index_params:
            options["postgresql_with"] = {
                key: (str(value).lower() if isinstance(value, bool) else value)
                for key, value in self.index_params.items()
            }
        if self.vector_ops is not None:
            options["postgresql_ops"] = {column_key: self.vector_ops}
        if self.where is not None:
            options["postgresql_where"] = sa.text(self.where) if isinstance(self.where, str) else self.where
        return options

    def to_sa_index(self, table: sa.Table, columns: Sequence[sa.Column[Any]] | None = None) -> sa.Index:
        """This index as a ``sa.Index`` attached to ``table`` (``columns`` default to ``table.c[name]``)."""
        if columns is None:
            try:
                columns = [table.c[name] for name in self.columns]
            except KeyError as exc:
                raise UnknownFieldError(name=str(exc.args[0]), choices=table.c.keys()) from exc
        name = self.name or default_index_name(table.name, [c.name for c in columns], self.method)
        return sa.Index(
            quoted_name(name, quote=True),
            *columns,
            unique=self.unique,
            info={CONCURRENTLY_INFO: True} if self.concurrently else None,
            **self.dialect_options(columns[0].key),
        )


def default_index_name(table: str, columns: Iterable[str], method: str) -> str:
    """``documents_embedding_hnsw_idx``, cut to PostgreSQL's 63-byte identifier limit."""
    return f"{table}_{'_'.join(columns)}_{method}_idx"[:63]


class DDLGenerator:
    """PostgreSQL DDL text for index definitions (compiled by SQLAlchemy; identifiers quoted)."""

    @staticmethod
    def add_index(index: IndexDef) -> str:
        """``CREATE [UNIQUE] INDEX IF NOT EXISTS "name" ON "table" USING method (cols ops) WITH (...)``."""
        if index.table is None:
            raise ParameterError(f"IndexDef {index.name!r} needs table= to generate DDL")
        if index.name is None:
            raise ParameterError("IndexDef needs name= to generate DDL")
        table = sa.Table(
            quoted_name(index.table, quote=True),
            sa.MetaData(),
            *(sa.Column(name) for name in index.columns),
            schema=quoted_name(index.schema, quote=True) if index.schema else None,
        )
        statement = sa.schema.CreateIndex(index.to_sa_index(table), if_not_exists=True)
        return str(statement.compile(dialect=postgresql.dialect())).strip()

    @staticmethod
    def drop_index(name: str, schema: str | None = None) -> str:
        """``DROP INDEX IF EXISTS ["schema".]"name"``."""
        if not isinstance(name, str) or not name:
            raise ParameterError(f"drop_index needs an index name; got {name!r}")
        index = sa.Index(quoted_name(name, quote=True))
        if schema:  # DropIndex takes the schema from the index's table
            holder = sa.Table("_", sa.MetaData(), sa.Column("_c"), schema=quoted_name(schema, quote=True))
            index = sa.Index(quoted_name(name, quote=True), holder.c["_c"])
        return str(sa.schema.DropIndex(index, if_exists=True).compile(dialect=postgresql.dialect())).strip()


def model_indexes(
    model_name: str, table: sa.Table, fields: Mapping[str, Field[Any]], declared: Iterable[Any]
) -> list[sa.Index]:
    """Attach a model's declared indexes (``_indexes`` / ``Meta.indexes``) to its table.

    Columns are field names (or column names); a vector method on a non-vector field, an operator class of
    the wrong vector kind or a ``table=`` naming another table raise :class:`FieldError`.
    """
    built: list[sa.Index] = []
    by_column = {f.column_name: f for f in fields.values()}
    for index in declared:
        if not isinstance(index, IndexDef):
            raise FieldError(f"{model_name}._indexes holds IndexDef objects; got {index!r}", model=model_name)
        if index.table is not None and index.table != table.name:
            raise FieldError(
                f"IndexDef {index.name!r} names table {index.table!r} but model {model_name} uses "
                f"{table.name!r}; leave table= out on a model",
                model=model_name,
            )
        columns = []
        for name in index.columns:
            found = fields.get(name) or by_column.get(name)
            if found is None:
                raise UnknownFieldError(name=name, choices=list(fields), model=model_name)
            columns.append(table.c[found.column_name])  # columns are keyed by column name
            if index.method in VECTOR_METHODS:
                _check_vector_field(model_name, index, found)
        built.append(index.to_sa_index(table, columns))
    return built


def _check_vector_field(model_name: str, index: IndexDef, found: Field[Any]) -> None:
    kind = getattr(found, "kind", None)
    if getattr(found, "lookup_family", None) != "vector" or kind is None:
        raise FieldError(
            f"a {index.method} index needs a vector field; '{found.name}' is a {type(found).__name__}",
            model=model_name,
        )
    ops = index.vector_ops
    if ops is not None and not ops.startswith(f"{kind}_") and not ops.startswith("bit_"):
        raise FieldError(
            f"operator class {ops!r} does not fit {kind} column '{found.name}'; use {kind}_<metric>_ops",
            model=model_name,
        )
    if index.method == "ivfflat" and kind == "sparsevec":
        raise FieldError("ivfflat indexes do not support sparsevec columns; use hnsw", model=model_name)
