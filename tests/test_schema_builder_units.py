"""Schema builder pieces that need no database: names, default parsing, source rendering, progress."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from matrx_orm.exceptions import ConfigurationError
from matrx_orm.migrations.scope import INTERNAL_TABLES
from matrx_orm.schema_builder.defaults import NO_VALUE, parse_default
from matrx_orm.schema_builder.info import ColumnType
from matrx_orm.schema_builder.naming import (
    NameTable,
    attribute_name,
    camel_case,
    class_name,
    enum_member_name,
    model_reserved_names,
    module_name,
    plural,
)
from matrx_orm.schema_builder.progress import Progress
from matrx_orm.schema_builder.pysource import Call, py_literal, py_str
from matrx_orm.schema_builder.reflect import BOOKKEEPING_TABLES, TableSelection

pytestmark = pytest.mark.level1


def test_attribute_names() -> None:
    reserved = model_reserved_names()
    assert {"save", "filter", "pk", "delete", "objects", "to_dict"} <= reserved
    assert attribute_name("class", reserved) == "class_"
    assert attribute_name("from", reserved) == "from_"
    assert attribute_name("save", reserved) == "save_"
    assert attribute_name("pk", reserved) == "pk_"
    assert attribute_name("Mixed Case", reserved) == "mixed_case"
    assert attribute_name("2fa", reserved) == "col_2fa"
    assert attribute_name("_secret", reserved) == "secret"
    assert attribute_name("id", reserved) == "id"  # builtins stay: class attributes do not shadow them
    assert attribute_name("type", reserved) == "type"
    assert attribute_name("Decimal", {"Decimal"}) == "Decimal_"


def test_class_and_module_names() -> None:
    assert class_name("customer_order") == "CustomerOrder"
    assert class_name("userProfile") == "UserProfile"
    assert class_name("exception") == "ExceptionTable"  # a builtin
    assert class_name("model", {"Model"}) == "ModelTable"  # an imported name
    assert class_name("2024_sales") == "T2024Sales"
    assert module_name("CustomerOrder") == "customer_order"
    assert module_name("Models") == "models_"
    assert camel_case("customer_order") == "customerOrder"
    names = NameTable({"a"})
    assert [names.claim("a"), names.claim("a"), names.claim("b")] == ["a_2", "a_3", "b"]


def test_enum_member_names() -> None:
    assert enum_member_name("in-progress") == "IN_PROGRESS"
    assert enum_member_name("2x") == "V_2X"
    assert enum_member_name("") == "EMPTY"
    assert enum_member_name("Paid Out") == "PAID_OUT"


@pytest.mark.parametrize(
    ("default", "kind", "expected"),
    [
        ("'pending'::order_status", "enum", "pending"),
        ("'it''s'::text", "text", "it's"),
        ("'{}'::jsonb", "jsonb", {}),
        ("'{\"a\": [1, 2]}'::jsonb", "jsonb", {"a": [1, 2]}),
        ("0.00", "numeric", Decimal("0.00")),
        ("'-1'::integer", "integer", -1),
        ("(-5)", "integer", -5),
        ("1.5", "real", 1.5),
        ("true", "boolean", True),
        ("false", "boolean", False),
        ("now()", "timestamp", NO_VALUE),
        ("gen_random_uuid()", "uuid", NO_VALUE),
        ("NULL::text", "text", NO_VALUE),
        ("CURRENT_TIMESTAMP", "timestamp", NO_VALUE),
        ("lower('X'::text)", "text", NO_VALUE),
    ],
)
def test_parse_default(default: str, kind: str, expected: object) -> None:
    assert parse_default(default, ColumnType(kind)) == expected


def test_parse_array_defaults() -> None:
    text_array = ColumnType("array", item=ColumnType("text"))
    int_array = ColumnType("array", item=ColumnType("integer"))
    assert parse_default("'{}'::text[]", text_array) == []
    assert parse_default("'{a,b}'::text[]", text_array) == ["a", "b"]
    assert parse_default("'{1,2,NULL}'::integer[]", int_array) == [1, 2, None]
    assert parse_default("ARRAY['a'::text]", text_array) is NO_VALUE


def test_python_source() -> None:
    assert py_str('say "hi"') == "'say \"hi\"'"
    assert py_str("it's") == '"it\'s"'
    assert py_literal({"a": [1, Decimal("2.5"), None, True]}) == '{"a": [1, Decimal("2.5"), None, True]}'
    call = Call("CharField", [("max_length", "20"), ("null", "False")])
    assert call.render("    ", "name = ") == "    name = CharField(max_length=20, null=False)"
    long = Call(
        "ForeignKey",
        [("to_model", '"SomeVeryLongModelName"'), ("to_column", '"identifier"'), ("on_delete", '"SET NULL"')],
    )
    assert long.render("    ", "some_long_attribute_name = ").splitlines()[1:] == [
        '        to_model="SomeVeryLongModelName",',
        '        to_column="identifier",',
        '        on_delete="SET NULL",',
        "    )",
    ]


def test_table_selection() -> None:
    with pytest.raises(ConfigurationError, match="mutually exclusive"):
        TableSelection(include={"a"}, exclude={"b"})
    with pytest.raises(ConfigurationError, match="collection of table names"):
        TableSelection(include="users")
    include = TableSelection(include={"users", "auth.sessions"})
    assert include.allows("public", "users") and include.allows("auth", "users")
    assert include.allows("auth", "sessions") and not include.allows("public", "sessions")
    exclude = TableSelection(exclude={"public.logs"})
    assert not exclude.allows("public", "logs") and exclude.allows("audit", "logs")


def test_bookkeeping_and_skipped_tables_are_never_selected() -> None:
    assert BOOKKEEPING_TABLES == INTERNAL_TABLES  # the migrations' bookkeeping, kept in step
    everything = TableSelection(include={"alembic_version", "_matrx_migrations", "users", "audit_log"})
    assert not everything.allows("public", "alembic_version")
    assert not everything.allows("public", "_matrx_migrations")
    assert everything.allows("public", "users")
    skipping = TableSelection(skip={"audit_log", "auth.sessions"})
    assert not skipping.allows("public", "audit_log") and not skipping.allows("auth", "sessions")
    assert skipping.allows("public", "sessions") and skipping.allows("public", "users")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("category", "categories"),
        ("person", "people"),
        ("child", "children"),
        ("box", "boxes"),
        ("order_status", "order_statuses"),
        ("customer_order", "customer_orders"),
        ("analysis", "analyses"),
        ("users", "users"),
        ("categories", "categories"),
        ("data", "data"),
        ("news", "news"),
        ("t_2fa", "t_2fas"),
    ],
)
def test_plural_relation_names(name: str, expected: str) -> None:
    assert plural(name) == expected


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    piped = io.StringIO()
    progress = Progress.auto(piped)
    progress.step("reflecting public: 400 tables")
    progress.advance("writing files", 400, 400)
    progress.done("done")
    assert piped.getvalue() == ""
    tty = _Tty()
    progress = Progress.auto(tty)
    progress.step("reflecting public: 400 tables")
    progress.advance("writing files", 1, 400)
    progress.advance("writing files", 2, 400)  # throttled
    progress.advance("writing files", 400, 400)
    progress.done("finished")
    out = tty.getvalue()
    assert "\rmatrx-orm: reflecting public: 400 tables" in out
    assert "writing files 2/400" not in out  # redraws are throttled
    assert "writing files 400/400" in out and "finished" in out and out.endswith("\n")
