"""Turn a reflected :class:`SchemaInfo` into a code plan: class names, fields, relations, constraints.

The plan is still plain data (names and source fragments); the renderers only lay it out. Decisions made
here:

* one model per table, named PascalCase (``customer_order`` -> ``CustomerOrder``); a name used twice
  (``public.users`` and ``auth.users``) gets its schema as prefix for the non-public one (``AuthUsers``);
* columns whose name is not a usable attribute (keywords, ``Model`` internals such as ``save``/``pk``,
  ``Mixed Case``) get an alias and ``db_column=`` keeps the column name;
* single-column foreign keys become ``ForeignKey`` fields; composite ones ``ForeignKeyConstraint`` entries of
  ``_constraints``; foreign keys to tables that are not generated become plain typed columns;
* ``unique=`` / ``index=`` are used only when the database's name equals the one matrx-orm's naming
  convention gives (``uq_<table>_<col>``, ``ix_<table>_<col>``); other unique constraints go to
  ``_constraints`` and other indexes to ``_indexes`` with their names, so a migration diff stays empty.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from ..fields import FIELD_TYPES
from .defaults import NO_VALUE, parse_default
from .info import ColumnInfo, ColumnType, EnumInfo, ForeignKeyInfo, IndexInfo, SchemaInfo, TableInfo
from .naming import (
    NameTable,
    attribute_name,
    class_name,
    enum_member_name,
    model_reserved_names,
    module_name,
    pascal_case,
    plural,
)
from .pysource import Call, py_literal, py_str

__all__ = ["EnumPlan", "FieldPlan", "ModelPlan", "Plan", "PlanOptions", "build_plan"]

#: names a generated ``models.py`` may import; model and enum classes never use them
IMPORTABLE = frozenset(
    {
        "Decimal",
        "Enum",
        "StrEnum",
        "Model",
        "ForeignKey",
        "IndexDef",
        "UniqueConstraint",
        "CheckConstraint",
        "ForeignKeyConstraint",
        "conv",
        "annotations",
    }
)

_SIMPLE_FIELDS: dict[str, str] = {
    "smallint": "SmallIntegerField",
    "integer": "IntegerField",
    "bigint": "BigIntegerField",
    "boolean": "BooleanField",
    "text": "TextField",
    "uuid": "UUIDField",
    "date": "DateField",
    "interval": "TimeDeltaField",
    "jsonb": "JSONBField",
    "json": "JSONField",
    "inet": "IPAddressField",
    "cidr": "IPNetworkField",
    "macaddr": "MacAddressField",
    "money": "MoneyField",
    "hstore": "HStoreField",
    "bytea": "BinaryField",
    "double": "FloatField",
}
_ARRAY_FIELDS: dict[str, str] = {
    "text": "TextArrayField",
    "integer": "IntegerArrayField",
    "boolean": "BooleanArrayField",
    "uuid": "UUIDArrayField",
    "jsonb": "JSONBArrayField",
}
_VECTOR_FIELDS = {"vector": "VectorField", "halfvec": "HalfVectorField", "sparsevec": "SparseVectorField"}
_VECTOR_METHODS = ("hnsw", "ivfflat")


@dataclass
class PlanOptions:
    """Choices that shape the generated code."""

    database: str
    #: add ``_many_to_many`` entries through junction tables that carry extra (payload) columns too
    m2m_payload_junctions: bool = True


@dataclass
class EnumPlan:
    info: EnumInfo
    class_name: str
    members: list[tuple[str, str]]


@dataclass
class FieldPlan:
    attribute: str
    column: ColumnInfo
    call: Call
    comments: list[str] = field(default_factory=list)


@dataclass
class ModelPlan:
    table: TableInfo
    class_name: str
    module: str
    fields: list[FieldPlan] = field(default_factory=list)
    #: column name -> attribute name
    attributes: dict[str, str] = field(default_factory=dict)
    primary_keys: list[str] = field(default_factory=list)
    constraints: list[Call] = field(default_factory=list)
    indexes: list[Call] = field(default_factory=list)
    inverse_foreign_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    many_to_many: dict[str, dict[str, str]] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    #: ``(model, label)`` pairs of models this one references (for ordering)
    depends_on: set[str] = field(default_factory=set)


@dataclass
class Plan:
    database: str
    enums: list[EnumPlan]
    models: list[ModelPlan]
    #: ``matrx_orm`` names models.py imports
    orm_imports: set[str] = field(default_factory=set)
    #: other ``from module import name`` lines
    extra_imports: set[tuple[str, str]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def model_for(self, schema: str, table: str) -> ModelPlan | None:
        for model in self.models:
            if model.table.schema == schema and model.table.name == table:
                return model
        return None


def _stem(column: str) -> str:
    return column[:-3] if column.endswith("_id") and len(column) > 3 else column


class _Builder:
    def __init__(self, info: SchemaInfo, options: PlanOptions) -> None:
        self.info = info
        self.options = options
        self.reserved_attributes = model_reserved_names()
        self.plan = Plan(database=options.database, enums=[], models=[])
        self.module_names = NameTable(IMPORTABLE)
        self.enum_classes: dict[tuple[str, str], str] = {}
        self.models: dict[tuple[str, str], ModelPlan] = {}

    # -- names ----------------------------------------------------------------------------------------------
    def _name_models(self) -> None:
        taken = set(IMPORTABLE) | set(FIELD_TYPES)
        self.module_names = NameTable(taken)
        counts: dict[str, int] = {}
        for table in self.info.tables:
            counts[pascal_case(table.name)] = counts.get(pascal_case(table.name), 0) + 1
        modules = NameTable()
        for table in self.info.tables:
            base = table.name
            if counts[pascal_case(table.name)] > 1 and table.schema != "public":
                base = f"{table.schema}_{table.name}"
            name = self.module_names.claim(class_name(base, taken), separator="")
            plan = ModelPlan(table=table, class_name=name, module=modules.claim(module_name(name)))
            self.models[table.key] = plan
            self.plan.models.append(plan)
        for enum in self.info.enums:
            taken = self.module_names.taken
            name = class_name(enum.name)
            if name in taken and enum.schema != "public":
                name = class_name(f"{enum.schema}_{enum.name}")
            if name in taken:
                name = f"{name}Enum"
            name = self.module_names.claim(name, separator="")
            members = NameTable()
            self.enum_classes[(enum.schema, enum.name)] = name
            self.plan.enums.append(
                EnumPlan(enum, name, [(members.claim(enum_member_name(lbl)), lbl) for lbl in enum.labels])
            )

    def _name_attributes(self, model: ModelPlan) -> None:
        names = NameTable()
        reserved = self.reserved_attributes | self.module_names.taken
        for column in model.table.columns:
            model.attributes[column.name] = names.claim(attribute_name(column.name, reserved))

    # -- field types ----------------------------------------------------------------------------------------
    def _enum_member(self, enum: EnumInfo, label: str) -> str | None:
        for plan in self.plan.enums:
            if plan.info == enum:
                for member, value in plan.members:
                    if value == label:
                        return f"{plan.class_name}.{member}"
        return None

    def _type_call(self, column_type: ColumnType, model: ModelPlan, column: str) -> Call:
        kind = column_type.kind
        if kind in _SIMPLE_FIELDS:
            if kind == "json":
                model.comments.append(
                    f"{column}: json column; JSONField declares jsonb (see docs/codegen.md)"
                )
            return Call(_SIMPLE_FIELDS[kind])
        if kind in ("varchar", "char"):
            if kind == "char":
                model.comments.append(
                    f"{column}: char({column_type.length}) generated as a varchar CharField"
                )
            return Call("CharField", [("max_length", py_literal(column_type.length))])
        if kind == "real":
            return Call("FloatField", [("precision", "24")])
        if kind == "numeric":
            args: list[tuple[str | None, str]] = []
            if column_type.precision is not None:
                args.append(("max_digits", str(column_type.precision)))
                args.append(("decimal_places", str(column_type.scale or 0)))
            return Call("DecimalField", args)
        if kind == "timestamp":
            return Call("DateTimeField", [] if column_type.timezone else [("timezone", "False")])
        if kind == "time":
            return Call("TimeField", [("timezone", "True")] if column_type.timezone else [])
        if kind in _VECTOR_FIELDS:
            return Call(_VECTOR_FIELDS[kind], [("dimensions", str(column_type.dimensions))])
        if kind == "enum" and column_type.enum is not None:
            enum = column_type.enum
            args = [
                ("enum_class", self.enum_classes[(enum.schema, enum.name)]),
                ("enum_name", py_str(enum.name)),
            ]
            if enum.schema != "public":
                args.append(("enum_schema", py_str(enum.schema)))
            return Call("EnumField", args)
        if kind == "array" and column_type.item is not None:
            item = column_type.item
            extra = (
                [("dimensions", str(column_type.array_dimensions))]
                if column_type.array_dimensions > 1
                else []
            )
            if item.kind in _ARRAY_FIELDS and not extra:
                return Call(_ARRAY_FIELDS[item.kind])
            item_call = self._type_call(item, model, column)
            self.plan.orm_imports.add(item_call.name)
            return Call("ArrayField", [(None, item_call.inline()), *extra])
        model.comments.append(
            f"{column}: type {column_type.sql or kind} has no matching field; generated as TextField"
        )
        self.plan.notes.append(
            f"{model.table.qualified_name}.{column}: unsupported type {column_type.sql or kind} "
            "(generated as TextField; does not round-trip)"
        )
        return Call("TextField")

    # -- fields ---------------------------------------------------------------------------------------------
    def _default_args(self, column: ColumnInfo) -> list[tuple[str | None, str]]:
        if column.default is None:
            return []
        args: list[tuple[str | None, str]] = []
        value = parse_default(column.default, column.type)
        if value is not NO_VALUE:
            source = None
            if column.type.kind == "enum" and column.type.enum is not None and isinstance(value, str):
                source = self._enum_member(column.type.enum, value)
            elif value is not None and not (isinstance(value, list | dict) and value):
                source = py_literal(value)
                if "Decimal(" in source:
                    self.plan.extra_imports.add(("decimal", "Decimal"))
            if source is not None:
                args.append(("default", source))
        args.append(("server_default", py_str(column.default)))
        return args

    def _fk_target(self, fk: ForeignKeyInfo) -> ModelPlan | None:
        return self.models.get((fk.ref_schema, fk.ref_table))

    def _build_fields(self, model: ModelPlan) -> None:
        table = model.table
        composite_pk = len(table.primary_key) > 1
        model.primary_keys = [model.attributes[c] for c in table.primary_key]
        uniques = {u.columns[0]: u for u in table.uniques if len(u.columns) == 1}
        simple_indexes = {
            ix.columns[0]: ix for ix in table.indexes if self._convention_index(table, ix) is not None
        }
        fk_columns: dict[str, ForeignKeyInfo] = {}
        for fk in table.foreign_keys:
            if len(fk.columns) == 1 and fk.columns[0] not in fk_columns and self._fk_target(fk) is not None:
                fk_columns[fk.columns[0]] = fk
        for column in table.columns:
            attribute = model.attributes[column.name]
            comments: list[str] = []
            column_fk = fk_columns.get(column.name)
            if column_fk is not None:
                call = self._fk_call(model, column_fk)
            else:
                call = self._type_call(column.type, model, column.name)
                plain_fk = table.single_column_fk(column.name)
                if plain_fk is not None and self._fk_target(plain_fk) is None:
                    comments.append(
                        f"references {plain_fk.ref_schema}.{plain_fk.ref_table}"
                        f"({', '.join(plain_fk.ref_columns)}), which is not generated"
                    )
            args = list(call.args)
            if column.name in table.primary_key and not composite_pk:
                args.insert(0, ("primary_key", "True"))
            elif not column.nullable and column.name not in table.primary_key:
                args.append(("null", "False"))
            unique = uniques.get(column.name)
            if unique is not None and unique.name == f"uq_{table.name}_{column.name}":
                args.append(("unique", "True"))
            if column.name in simple_indexes:
                args.append(("index", "True"))
            args.extend(self._default_args(column))
            if column.identity:
                args.append(("identity", py_str(column.identity)))
            if attribute != column.name:
                args.append(("db_column", py_str(column.name)))
            if column.comment:
                args.append(("comment", py_str(column.comment)))
            call = Call(call.name, args)
            if call.name != "ForeignKey":
                self.plan.orm_imports.add(call.name)
            model.fields.append(FieldPlan(attribute, column, call, comments))

    def _fk_call(self, model: ModelPlan, fk: ForeignKeyInfo) -> Call:
        target = self._fk_target(fk)
        assert target is not None
        self.plan.orm_imports.add("ForeignKey")
        model.depends_on.add(target.class_name)
        to_model = target.class_name if target is not model else py_str(target.class_name)
        args: list[tuple[str | None, str]] = [
            ("to_model", to_model),
            ("to_column", py_str(target.attributes.get(fk.ref_columns[0], fk.ref_columns[0]))),
        ]
        if fk.ref_schema != "public":
            args.append(("to_schema", py_str(fk.ref_schema)))
        on_delete = (fk.on_delete or "NO ACTION").upper()
        if on_delete != "CASCADE":
            args.append(("on_delete", py_str(on_delete)))
        if fk.on_update and fk.on_update.upper() != "NO ACTION":
            model.comments.append(
                f"{fk.columns[0]}: ON UPDATE {fk.on_update} is not expressed by ForeignKey (see docs)"
            )
            self.plan.notes.append(f"{model.table.qualified_name}.{fk.columns[0]}: ON UPDATE not generated")
        return Call("ForeignKey", args)

    # -- constraints and indexes ------------------------------------------------------------------------------
    @staticmethod
    def _convention_index(table: TableInfo, index: IndexInfo) -> str | None:
        if (
            len(index.columns) == 1
            and index.columns[0] is not None
            and not index.unique
            and index.method == "btree"
            and not index.ops
            and not index.params
            and index.where is None
            and not index.include
            and index.name == f"ix_{table.name}_{index.columns[0]}"
        ):
            return index.columns[0]
        return None

    def _build_constraints(self, model: ModelPlan) -> None:
        table = model.table
        for unique in table.uniques:
            if len(unique.columns) == 1 and unique.name == f"uq_{table.name}_{unique.columns[0]}":
                continue
            args: list[tuple[str | None, str]] = [(None, py_str(model.attributes[c])) for c in unique.columns]
            if unique.name:
                args.append(("name", py_str(unique.name)))
            model.constraints.append(Call("UniqueConstraint", args))
            self.plan.extra_imports.add(("sqlalchemy", "UniqueConstraint"))
        used_single: set[str] = set()
        for fk in table.foreign_keys:
            target = self._fk_target(fk)
            if target is None:
                continue
            if len(fk.columns) == 1 and fk.columns[0] not in used_single:
                used_single.add(fk.columns[0])
                continue
            prefix = "" if target.table.schema == "public" else f"{target.table.schema}."
            refs = [f"{prefix}{target.table.name}.{target.attributes[c]}" for c in fk.ref_columns]
            args = [
                (None, "[" + ", ".join(py_str(model.attributes[c]) for c in fk.columns) + "]"),
                (None, "[" + ", ".join(py_str(r) for r in refs) + "]"),
            ]
            if fk.name:
                args.append(("name", py_str(fk.name)))
            if fk.on_delete:
                args.append(("ondelete", py_str(fk.on_delete)))
            if fk.on_update:
                args.append(("onupdate", py_str(fk.on_update)))
            model.constraints.append(Call("ForeignKeyConstraint", args))
            self.plan.extra_imports.add(("sqlalchemy", "ForeignKeyConstraint"))
        for check in table.checks:
            args = [(None, py_str(check.sqltext))]
            if check.name:
                args.append(("name", f"conv({py_str(check.name)})"))
                self.plan.extra_imports.add(("sqlalchemy.sql.elements", "conv"))
            model.constraints.append(Call("CheckConstraint", args))
            self.plan.extra_imports.add(("sqlalchemy", "CheckConstraint"))
        for index in table.indexes:
            if self._convention_index(table, index) is not None:
                continue
            call = self._index_call(model, index)
            if call is not None:
                model.indexes.append(call)

    def _index_call(self, model: ModelPlan, index: IndexInfo) -> Call | None:
        table = model.table
        reason = None
        if index.is_expression:
            reason = "an expression index"
        elif index.include:
            reason = "an index with INCLUDE columns"
        elif index.ops and index.method not in _VECTOR_METHODS:
            reason = "an index with operator classes"
        if reason is not None:
            model.comments.append(f"index {index.name} is {reason}; not generated (create it in a migration)")
            self.plan.notes.append(f"{table.qualified_name}: index {index.name} ({reason}) not generated")
            return None
        args: list[tuple[str | None, str]] = [
            ("name", py_str(index.name)),
            ("columns", "[" + ", ".join(py_str(model.attributes[str(c)]) for c in index.columns) + "]"),
        ]
        if index.unique:
            args.append(("unique", "True"))
        if index.method != "btree":
            args.append(("method", py_str(index.method)))
        if index.ops:
            args.append(("vector_ops", py_str(index.ops[0][1])))
        if index.params:
            params = {key: _param_value(value) for key, value in index.params}
            args.append(("index_params", py_literal(params)))
        if index.where:
            args.append(("where", py_str(index.where)))
        self.plan.orm_imports.add("IndexDef")
        return Call("IndexDef", args)

    # -- relations --------------------------------------------------------------------------------------------
    def _junction(self, model: ModelPlan) -> tuple[ForeignKeyInfo, ForeignKeyInfo, list[str]] | None:
        table = model.table
        if table.is_view:
            return None
        fks = [fk for fk in table.foreign_keys if len(fk.columns) == 1 and self._fk_target(fk) is not None]
        if len(fks) != 2 or len(table.foreign_keys) != 2:
            return None
        first, second = fks
        pair = {first.columns[0], second.columns[0]}
        if len(pair) != 2 or any(table.column(c).nullable for c in pair):
            return None
        keyed = set(table.primary_key) == pair or any(set(u.columns) == pair for u in table.uniques)
        surrogate = set(table.primary_key) - pair if len(table.primary_key) == 1 else set()
        others = [c.name for c in table.columns if c.name not in pair and c.name not in surrogate]
        if not keyed and others:
            return None
        return first, second, others

    def _build_relations(self) -> None:
        relation_names = {key: NameTable(m.attributes.values()) for key, m in self.models.items()}
        for model in self.plan.models:
            table = model.table
            counts: dict[tuple[str, str], int] = {}
            for fk in table.foreign_keys:
                if len(fk.columns) == 1 and self._fk_target(fk) is not None:
                    counts[(fk.ref_schema, fk.ref_table)] = counts.get((fk.ref_schema, fk.ref_table), 0) + 1
            seen: set[str] = set()
            for fk in table.foreign_keys:
                target = self._fk_target(fk)
                if target is None or len(fk.columns) != 1 or fk.columns[0] in seen:
                    continue
                seen.add(fk.columns[0])
                base = plural(model.module)
                if counts[(fk.ref_schema, fk.ref_table)] > 1 or target is model:
                    base = f"{base}_by_{_stem(fk.columns[0])}"
                name = relation_names[target.table.key].claim(base)
                target.inverse_foreign_keys[name] = {
                    "from_model": model.class_name,
                    "from_field": model.attributes[fk.columns[0]],
                    "referenced_field": target.attributes.get(fk.ref_columns[0], fk.ref_columns[0]),
                }
        for model in self.plan.models:
            junction = self._junction(model)
            if junction is None:
                continue
            first, second, payload = junction
            if payload and not self.options.m2m_payload_junctions:
                continue
            for source, target_fk in ((first, second), (second, first)):
                owner = self._fk_target(source)
                target = self._fk_target(target_fk)
                assert owner is not None and target is not None
                if owner.table.schema != model.table.schema:
                    # the relations layer looks for the junction in the owner's schema
                    self.plan.notes.append(
                        f"{owner.table.qualified_name}: no _many_to_many through {model.table.qualified_name} "
                        "(the junction table is in another schema)"
                    )
                    continue
                base = plural(target.module)
                if owner is target:
                    base = f"{base}_by_{_stem(source.columns[0])}"
                names = relation_names[owner.table.key]
                if base in names.taken:
                    base = f"{base}_via_{model.module}"
                name = names.claim(base)
                owner.many_to_many[name] = {
                    "junction_table": model.table.name,
                    "source_column": source.columns[0],
                    "target_column": target_fk.columns[0],
                    "target_model": target.class_name,
                }
            if payload:
                model.comments.append(
                    f"junction table with payload columns ({', '.join(payload)}): "
                    "_many_to_many entries were added to both sides"
                )

    # -- order ----------------------------------------------------------------------------------------------
    def _order(self) -> None:
        """Referenced models first (stable topological order); cycles keep table order."""
        position = {m.class_name: i for i, m in enumerate(self.plan.models)}
        by_name = {m.class_name: m for m in self.plan.models}
        waiting = {m.class_name: {d for d in m.depends_on if d != m.class_name} for m in self.plan.models}
        dependants: dict[str, set[str]] = {name: set() for name in by_name}
        for name, deps in waiting.items():
            for dep in deps:
                dependants[dep].add(name)
        ready = [(position[n], n) for n, deps in waiting.items() if not deps]
        heapq.heapify(ready)
        ordered: list[ModelPlan] = []
        while len(ordered) < len(by_name):
            if not ready:  # a cycle: release the earliest waiting model
                name = min((n for n, d in waiting.items() if d), key=lambda n: position[n])
                waiting[name] = set()
                heapq.heappush(ready, (position[name], name))
            _, name = heapq.heappop(ready)
            if name in (m.class_name for m in ordered):
                continue
            ordered.append(by_name[name])
            for other in sorted(dependants[name], key=lambda n: position[n]):
                waiting[other].discard(name)
                if not waiting[other] and by_name[other] not in ordered:
                    heapq.heappush(ready, (position[other], other))
        views = [m for m in ordered if m.table.is_view]
        self.plan.models = [m for m in ordered if not m.table.is_view] + views

    def build(self) -> Plan:
        self._name_models()
        for model in self.plan.models:
            self._name_attributes(model)
        for model in self.plan.models:
            self._build_fields(model)
            self._build_constraints(model)
        self._build_relations()
        self._order()
        # forward references (cycles) must be strings: rewrite to_model for targets defined later
        defined: set[str] = set()
        for model in self.plan.models:
            for field_plan in model.fields:
                if field_plan.call.name == "ForeignKey":
                    key, value = field_plan.call.args[0]
                    if not value.startswith('"') and value not in defined:
                        field_plan.call.args[0] = (key, py_str(value))
            defined.add(model.class_name)
        if self.plan.enums:
            self.plan.extra_imports.add(("enum", "StrEnum"))
        self.plan.notes = sorted(set(self.info.notes + self.plan.notes))
        return self.plan


def _param_value(value: str) -> Any:
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return float(text)
    except ValueError:
        pass
    if text.lower() in ("on", "true"):
        return True
    if text.lower() in ("off", "false"):
        return False
    return text


def build_plan(info: SchemaInfo, options: PlanOptions) -> Plan:
    """The code plan for ``info``."""
    return _Builder(info, options).build()
