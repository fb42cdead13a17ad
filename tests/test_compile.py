"""The compiler on its own: SQL text, bound values, and the per-shape cache (no database)."""

from __future__ import annotations

from typing import Any

import pytest
from example_models import Author, Book, User

from matrx_orm import Paginator, Q
from matrx_orm.exceptions import ParameterError
from matrx_orm.sql.compiler import cache as compiler

pytestmark = pytest.mark.level1


def test_select_sql_uses_numbered_parameters_and_quotes_identifiers() -> None:
    sql = User.filter(username="x").sql()
    assert 'FROM "user"' in sql
    assert "$1" in sql and "x" not in sql


def test_values_are_bound_never_spliced() -> None:
    evil = "'; DROP TABLE author; --"
    qs = Author.filter(name=evil, email__icontains=evil)
    statement, params = qs._select(Author._meta.field_names)
    assert "DROP" not in statement.sql
    assert params[0] == evil and params[1] == "%'; DROP TABLE author; --%"


def test_same_shape_reuses_compiled_statement() -> None:
    a, _ = Author.filter(age__gt=1, name="a")._select(("id",))
    b, params = Author.filter(age__gt=99, name="b")._select(("id",))
    assert a is b and params == [99, "b"]
    c, _ = Author.filter(age__gt=1, name=None)._select(("id",))
    assert c is not a and "IS NULL" in c.sql


def test_in_lookup_is_one_array_parameter() -> None:
    small, p1 = Author.filter(age__in=[1])._select(("id",))
    large, p2 = Author.filter(age__in=list(range(500)))._select(("id",))
    assert small is large
    assert "any($1" in small.sql.lower()
    assert p2 == [list(range(500))]


def test_or_and_not() -> None:
    statement, params = Author.filter(Q(age=1) | ~Q(name="x"))._select(("id",))
    assert " OR " in statement.sql and ("NOT" in statement.sql or "!=" in statement.sql)
    assert params == [1, "x"]


def test_limit_is_written_into_the_statement_and_offset_is_a_parameter() -> None:
    """A LIMIT parameter would make PostgreSQL plan the statement again on every run (see
    test_plain_shapes.py): the limit is part of the SQL; the offset, which pages through many values, is not."""
    qs = Author.filter(age=3).order_by("-age", "name")
    statement, params = qs[5:15]._select(("id",))
    assert "ORDER BY author.age DESC, author.name ASC" in statement.sql
    assert statement.sql.rstrip().endswith("LIMIT 10 OFFSET $2::BIGINT")
    assert params == [3, 5]
    assert qs[25:35]._select(("id",)) == (statement, [3, 25])
    other, params = qs[5:20]._select(("id",))
    assert "LIMIT 15 " in other.sql and other is not statement and params == [3, 5]
    assert "LIMIT 0" in qs[:0]._select(("id",))[0].sql


def test_foreign_key_join_column_type_follows_target() -> None:
    assert "author_id UUID" in str(
        compiler.DIALECT.ddl_compiler(compiler.DIALECT, None).get_column_specification(
            Book._meta.table.c.author_id
        )
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda qs: qs.limit(2**63),
        lambda qs: qs.offset(10**40),
        lambda qs: qs[2**63 :],
        lambda qs: qs[: 2**64],
        lambda qs: qs.offset(2**62)[2**62 :],
        lambda qs: qs["a":],
        lambda qs: qs[:2.5],
        lambda qs: qs[True:],
        lambda qs: qs.limit(-1),
    ],
)
def test_limits_and_offsets_beyond_bigint_or_not_ints_are_refused_when_written(build: Any) -> None:
    with pytest.raises(ParameterError):
        build(Author.all())


def test_slice_bounds_take_index_types() -> None:
    """Bounds with ``__index__`` (NumPy's ints) slice as Python's own sequences take them."""
    np = pytest.importorskip("numpy")
    statement, params = Author.all().order_by("id")[np.int64(5) : np.int32(15)]._select(("id",))
    assert "LIMIT 10 " in statement.sql and params == [5] and type(params[0]) is int


def test_a_bad_slice_is_reported_with_the_numbers_written() -> None:
    with pytest.raises(ParameterError, match=r"ends at row 9223372036854775807 .*; got 18446744073709551621"):
        Author.all()[5 : 2**64 + 5]
    with pytest.raises(
        ParameterError, match=r"starts at row .*; got 1 after an offset of 9223372036854775807"
    ):
        Author.all().offset(2**63 - 1)[1:]
    with pytest.raises(ParameterError, match="per_page must be an int from 1 to 9223372036854775807"):
        Paginator(Author.all(), 2**64)
