"""TypeScript entity definitions, with the project's ``entity_overrides`` / ``field_overrides`` applied.

Entities and fields are keyed by camelCase names (``customer_order`` -> ``customerOrder``), the keys the
overrides use. A top-level override value that is a ``str`` is TypeScript source inserted as is
(``'"fkAndIfk"'``, ``'{ fieldName: "displayName" }'``); a field override given as a ``str`` is an object
literal spread into the field (``...{ isDisplayField: true }``). Dicts, lists, numbers, booleans and the
strings inside them are plain data (``{"subComponent": "SLIDER"}`` -> ``{ subComponent: "SLIDER" }``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .info import ColumnType
from .naming import camel_case
from .plan import ModelPlan, Plan

__all__ = ["render_typescript", "ts_type"]

_TS_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_NUMBER_KINDS = {"smallint", "integer", "real", "double"}


def ts_type(column_type: ColumnType) -> str:
    """The TypeScript type of a column's values (as the ORM returns them, serialised to JSON)."""
    kind = column_type.kind
    if kind == "array" and column_type.item is not None:
        item = ts_type(column_type.item)
        return f"({item})[]" if "|" in item else f"{item}[]"
    if kind in _NUMBER_KINDS:
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind in ("json", "jsonb"):
        return "unknown"
    if kind in ("vector", "halfvec", "sparsevec"):
        return "number[]"
    if kind == "hstore":
        return "Record<string, string | null>"
    if kind == "enum" and column_type.enum is not None:
        return " | ".join(json.dumps(label) for label in column_type.enum.labels) or "string"
    return "string"


def _key(name: str) -> str:
    return name if _TS_KEY.match(name) else json.dumps(name)


def _literal(value: Any, indent: str) -> str:
    """A top-level override value: a ``str`` is TypeScript source, anything else plain data."""
    return value if isinstance(value, str) else _data(value, indent)


def _data(value: Any, indent: str) -> str:
    """A literal from plain data (strings quoted)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        inner = indent + "  "
        body = "".join(f"{inner}{_key(str(k))}: {_data(v, inner)},\n" for k, v in value.items())
        return "{\n" + body + indent + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_data(v, indent) for v in value) + "]"
    return json.dumps(value)


def _entity(model: ModelPlan, entity_overrides: Mapping[str, Any], field_overrides: Mapping[str, Any]) -> str:
    table = model.table
    entity = camel_case(model.class_name)
    pk_set = set(table.primary_key)
    fk_by_column = {fk.columns[0]: fk for fk in table.foreign_keys if len(fk.columns) == 1}
    own_field_overrides = field_overrides.get(entity) or {}
    lines = [f"export const {entity} = {{"]
    lines.append(f"  entityName: {json.dumps(entity)},")
    lines.append(f"  className: {json.dumps(model.class_name)},")
    lines.append(f"  schema: {json.dumps(table.schema)},")
    lines.append(f"  tableName: {json.dumps(table.name)},")
    lines.append(f"  isView: {json.dumps(table.is_view)},")
    lines.append(
        f"  primaryKeys: {_data([camel_case(model.attributes[c]) for c in table.primary_key], '  ')},"
    )
    lines.append("  fields: {")
    for field_plan in model.fields:
        column = field_plan.column
        name = camel_case(field_plan.attribute)
        data: dict[str, Any] = {
            "fieldName": name,
            "databaseFieldName": column.name,
            "pythonFieldName": field_plan.attribute,
            "fieldClass": field_plan.call.name,
            "dataType": column.type.sql or column.type.kind,
            "isArray": column.type.kind == "array",
            "isPrimaryKey": column.name in pk_set,
            "isRequired": not column.nullable
            and column.default is None
            and column.identity is None
            and not column.serial,
            "hasServerDefault": column.default is not None or column.identity is not None or column.serial,
        }
        if column.type.length is not None:
            data["maxLength"] = column.type.length
        if column.type.dimensions is not None:
            data["dimensions"] = column.type.dimensions
        if column.type.enum is not None:
            data["enumValues"] = list(column.type.enum.labels)
        fk = fk_by_column.get(column.name)
        if fk is not None:
            data["foreignKey"] = {
                "schema": fk.ref_schema,
                "table": fk.ref_table,
                "column": fk.ref_columns[0],
            }
        body = _data(data, "    ")
        body = body[: body.rindex("}")].rstrip(" ")  # reopen the object to append overrides
        override = own_field_overrides.get(name)
        extra = ""
        if isinstance(override, str):
            extra = f"      ...{override},\n"
        elif isinstance(override, Mapping):
            extra = "".join(f"      {_key(str(k))}: {_data(v, '      ')},\n" for k, v in override.items())
        lines.append(f"    {name}: {body}{extra}    }},")
    lines.append("  },")
    relations: dict[str, Any] = {}
    if model.inverse_foreign_keys:
        relations["inverseForeignKeys"] = model.inverse_foreign_keys
    if model.many_to_many:
        relations["manyToMany"] = model.many_to_many
    lines.append(f"  relations: {_data(relations, '  ')},")
    for key, value in (entity_overrides.get(entity) or {}).items():
        lines.append(f"  {_key(str(key))}: {_literal(value, '  ')},")
    lines.append("} as const;")
    row = [f"export interface {model.class_name}Row {{"]
    for field_plan in model.fields:
        optional = "?" if field_plan.column.nullable else ""
        nullable = " | null" if field_plan.column.nullable else ""
        row.append(
            f"  {_key(camel_case(field_plan.attribute))}{optional}: {ts_type(field_plan.column.type)}{nullable};"
        )
    row.append("}")
    return "\n".join(row) + "\n\n" + "\n".join(lines)


def render_typescript(plan: Plan, overrides: Mapping[str, Any] | None = None) -> str:
    """``entities.ts``: a row interface and an entity definition per model, plus an index of entities."""
    overrides = overrides or {}
    entity_overrides = overrides.get("entity_overrides") or {}
    field_overrides = overrides.get("field_overrides") or {}
    parts = [
        f"// Generated by matrx-orm from database project {json.dumps(plan.database)}. Do not edit: "
        "regenerating overwrites it.\n"
    ]
    for model in plan.models:
        parts.append(_entity(model, entity_overrides, field_overrides))
    names = sorted(camel_case(m.class_name) for m in plan.models)
    index = "export const entities = {\n" + "".join(f"  {n},\n" for n in names) + "} as const;\n"
    index += "\nexport type EntityName = keyof typeof entities;\n"
    parts.append(index)
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"
