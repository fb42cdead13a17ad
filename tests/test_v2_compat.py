"""Code written for matrx-orm 2.x: its import paths, the Model / QueryBuilder methods it calls, ``using=``,
and the in-place ``filter()`` pattern (which builders do not support: it warns at the line)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib
import warnings
from decimal import Decimal
from typing import Any

import pytest
from example_models import ALL, Author, Book
from test_crud import _quoted

import matrx_orm
from matrx_orm import (
    Count,
    DateTrunc,
    DoesNotExist,
    IntegerField,
    Model,
    ParameterError,
    PrimitiveArrayField,
    QueryBuilder,
    Trim,
    UnknownRelationError,
    UnusedQueryWarning,
    create_all,
)
from matrx_orm.db import executor

#: names matrx-orm 2.x exported from matrx_orm that 2.x code imports
V2_TOP_LEVEL = [
    "get_database_alias",
    "get_code_config",
    "get_manager_config",
    "Signal",
    "pre_create",
    "post_create",
    "pre_save",
    "post_save",
    "pre_delete",
    "post_delete",
    "DateTrunc",
    "Trim",
    "PrimitiveArrayField",
    "VECTOR_METRICS",
    "AggregateResult",
    "AllRelatedResults",
    "ForeignKeyResults",
    "InverseForeignKeyResults",
    "ManyToManyResults",
    "UpdateResult",
    "vector_ops_for",
    "model_registry",
    "BaseDTO",
    "BaseManager",
    "ModelView",
    "MigrationDB",
]

#: 2.x module path -> names 2.x code imports from it
V2_PATHS = {
    "matrx_orm.core.base": ["Model", "ModelMeta", "ModelOptions", "RuntimeContainer"],
    "matrx_orm.core.fields": ["Field", "CharField", "ForeignKey", "PrimitiveArrayField", "VectorField"],
    "matrx_orm.core.extended": ["BaseManager", "BaseDTO"],
    "matrx_orm.core.config": [
        "DatabaseProjectConfig",
        "register_database",
        "get_database_alias",
        "get_code_config",
        "get_manager_config",
        "get_all_database_projects_redacted",
        "DatabaseConfigError",
    ],
    "matrx_orm.core.registry": ["model_registry", "ModelRegistry", "get_model_by_name"],
    "matrx_orm.core.relations": ["ManyToManyField", "ForeignKeyReference"],
    "matrx_orm.core.expressions": ["Q", "F", "Sum", "Window", "DateTrunc", "Trim", "VECTOR_METRICS", "CTE"],
    "matrx_orm.core.transaction": ["transaction"],
    "matrx_orm.core.paginator": ["Paginator", "Page"],
    "matrx_orm.core.types": ["AllRelatedResults", "ForeignKeyResults", "UpdateResult", "AggregateResult"],
    "matrx_orm.core.model_view": ["ModelView"],
    "matrx_orm.core.async_db_manager": ["AsyncDatabaseManager", "run_sync"],
    "matrx_orm.core.signals": ["Signal", "post_save", "pre_delete"],
}


@pytest.mark.level1
def test_every_2x_name_imports_from_matrx_orm() -> None:
    for name in V2_TOP_LEVEL:
        assert getattr(matrx_orm, name) is not None, name
        assert name in matrx_orm.__all__, name
    assert matrx_orm.VECTOR_METRICS == {"l2": "<->", "cosine": "<=>", "inner": "<#>", "l1": "<+>"}
    assert matrx_orm.get_code_config()["python_models"]["file_location"] == "models.py"


@pytest.mark.level1
@pytest.mark.parametrize("path", sorted(V2_PATHS))
def test_every_2x_import_path_works(path: str) -> None:
    module = importlib.import_module(path)
    for name in V2_PATHS[path]:
        assert getattr(module, name) is not None, f"{path}.{name}"
    assert module.__doc__ and "2.x" in module.__doc__  # re-export modules say why they exist
    for name in module.__all__:
        getattr(module, name)


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await create_all(db, models=ALL)
    for model in ALL:
        await executor.execute(db, f"TRUNCATE {_quoted(model)} CASCADE", [])


# -- the in-place filter() of 2.x ---------------------------------------------------------------------------------


async def test_a_chain_method_result_left_unused_warns_at_its_line() -> None:
    await Author.bulk_create([{"name": "old", "age": 40}, {"name": "young", "age": 20}])
    qs = Author.filter(is_active=True)
    with pytest.warns(UnusedQueryWarning, match="never used") as caught:
        qs.filter(age__gt=30)  # 2.x changed qs here; now this line does nothing, and says so
        line = _line_above()
        await asyncio.sleep(0)
    assert caught[0].filename == __file__ and caught[0].lineno == line
    assert len(await qs.all()) == 2  # the discarded filter was indeed not applied
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnusedQueryWarning)
        qs = qs.filter(age__gt=30)  # the 3.x way: no warning
        assert [a.name for a in await qs] == ["old"]
        base = Author.filter(is_active=True)
        assert await base.filter(age__lt=30).count() == 1 and await base.count() == 2
        assert await Author.exclude(age__lt=30).count() == 1


async def test_a_model_level_filter_left_unused_warns_at_its_line() -> None:
    """``Model.filter(...)``, ``Model.exclude(...)`` and a bare ``Model.filter()`` on a line of their own warn
    there, once each."""
    with pytest.warns(UnusedQueryWarning, match="never used") as caught:
        Author.filter(age__gt=30)
        line = _line_above()
        await asyncio.sleep(0)
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]
    with pytest.warns(UnusedQueryWarning, match="never used") as caught:
        Author.exclude(age__gt=30)
        line = _line_above()
        await asyncio.sleep(0)
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]
    with pytest.warns(UnusedQueryWarning, match="never used") as caught:
        Author.filter()
        line = _line_above()
        await asyncio.sleep(0)
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]


async def test_filter_and_exclude_start_from_an_overridden_objects() -> None:
    """A model whose ``objects()`` adds a default condition keeps it in ``filter()`` and ``exclude()``, as in
    every other read that starts from ``objects()``."""

    class ActiveAuthor(Author):
        _table_name = Author._meta.table_name

        @classmethod
        def objects(cls) -> Any:
            return super().objects().filter(is_active=True)

    await Author.bulk_create(
        [
            {"name": "on", "age": 40},
            {"name": "off", "age": 41, "is_active": False},
            {"name": "young", "age": 20},
        ]
    )
    assert sorted(a.name for a in await ActiveAuthor.filter(age__gt=30)) == ["on"]
    assert sorted(a.name for a in await ActiveAuthor.exclude(age__gt=30)) == ["young"]
    assert sorted(a.name for a in await ActiveAuthor.all()) == ["on", "young"]


async def test_the_packages_own_reads_and_writes_leave_no_unused_builder() -> None:
    """Reads and writes that build their queries inside the package (most of them skip recording the
    user's line) warn about nothing, whatever they find."""
    await Author.bulk_create([{"name": "old", "age": 40}, {"name": "young", "age": 20}])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = await Author.get(name="old", use_cache=False)
        assert await Author.get_or_none(name="nobody") is None
        assert (await Author.filter(age__gt=1).order_by("age").first()) is not None
        assert (await Author.filter(age__gt=1).order_by("age").last()) is not None
        assert await Author.count(age__gt=30) == 1 and await Author.exists(name="young")
        assert [a.name for a in await Author.get_many(age__lt=30)] == ["young"]
        assert (await Author.update_where({"name": "old"}, age=41)).rows_affected == 1
        assert await Author.delete_where(name="young") == 1
        assert await Author.filter(age__gt=1).count() == 1 and await Author.all().exists()
        assert (await Author.objects().get(old.id, use_cache=False)).age == 41
        del old
        gc.collect()
    assert [w for w in caught if issubclass(w.category, UnusedQueryWarning)] == []


async def test_a_builder_subclass_with_its_own_filter_scopes_every_read_and_write() -> None:
    """A model whose ``objects()`` returns a ``QueryBuilder`` subclass overriding ``filter()`` (a soft-delete
    scope, say) sees that ``filter()`` in its reads and writes by condition, with or without arguments; a
    model overriding the ``filter`` classmethod sees it in ``update_where`` of a mapping."""

    class ScopedBuilder(QueryBuilder[Any]):
        def filter(self, *conditions: Any, **filters: Any) -> Any:
            return super().filter(*conditions, is_active=True, **filters)

    class ScopedAuthor(Author):
        _table_name = Author._meta.table_name

        @classmethod
        def objects(cls) -> Any:
            return ScopedBuilder(cls)

    class FilteredAuthor(Author):
        _table_name = Author._meta.table_name

        @classmethod
        def filter(cls, *conditions: Any, **filters: Any) -> Any:
            return super().filter(*conditions, is_active=True, **filters)

    await Author.bulk_create(
        [
            {"name": "on", "age": 40},
            {"name": "off", "age": 41, "is_active": False},
            {"name": "young", "age": 20},
        ]
    )
    assert sorted(a.name for a in await ScopedAuthor.filter()) == ["on", "young"]
    assert sorted(a.name for a in await ScopedAuthor.get_many(age__gt=30)) == ["on"]
    assert await ScopedAuthor.count(age__gt=30) == 1
    assert await ScopedAuthor.count() == 2
    assert not await ScopedAuthor.exists(name="off")
    with pytest.raises(DoesNotExist):
        await ScopedAuthor.get(name="off")
    assert await ScopedAuthor.get_or_none(name="off") is None
    assert (await ScopedAuthor.update_where({"name": "off"}, age=1)).rows_affected == 0
    assert (await FilteredAuthor.update_where({"name": "off"}, age=2)).rows_affected == 0
    assert await ScopedAuthor.delete_where(name="off") == 0
    off = await Author.get(name="off", use_cache=False)
    assert off.age == 41  # neither update reached the row out of scope, nor the delete


def _line_above() -> int:
    import inspect

    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno - 1


# -- using= ---------------------------------------------------------------------------------------------------


async def test_using_reads_one_row_or_a_count_from_another_database(db2: str) -> None:
    await create_all(db2, models=[Author])
    await executor.execute(db2, "TRUNCATE author CASCADE", [])
    here = await Author.create(name="here")
    await executor.execute(
        db2, "INSERT INTO author (id, name, is_active) VALUES ($1, 'there', true)", [here.id]
    )
    assert (await Author.get(here.id)).name == "here"
    assert (await Author.get(here.id, using=db2)).name == "there"
    assert (await Author.get(id=here.id, using=db2, use_cache=False)).name == "there"
    assert (await Author.get_or_none(name="there", using=db2)) is not None
    assert await Author.get_or_none(name="here", using=db2) is None
    assert await Author.count(using=db2) == 1 and await Author.exists(name="there", using=db2)
    assert not await Author.exists(name="here", using=db2)
    assert (await Author.objects().using(db2).get(here.id)).name == "there"
    assert (await Author.get_by_id(here.id, using=db2)).name == "there"
    assert (await Author.get(here.id)).name == "here"  # the cache never mixes the databases


# -- Model methods of 2.x -----------------------------------------------------------------------------------------


async def test_model_methods_of_2x() -> None:
    ada = await Author.create(name="ada", age=36, rating=Decimal("4.50"))
    await Author.create(name="bob", age=20)
    assert (await Author.get_by_id(ada.id)).name == "ada"
    assert [a.name for a in await Author.get_many(age__gt=30)] == ["ada"]
    assert Author.get_field("name") is Author._meta.fields["name"] and Author.get_field("nope") is None
    assert Author.get_database_name() == "test" and ada.table_name == "author"
    assert ada.get_cache_key() == ada.id
    assert Book.get_relation("author").name == "author_id"  # the foreign key by its alias
    with pytest.raises(UnknownRelationError):
        Book.get_relation("title")
    row = {"id": ada.id, "name": "ada", "age": 36, "extra": 1}
    built = Author.from_db_result(row)
    assert built.name == "ada" and built._persisted and built.extra == 1  # type: ignore[attr-defined]
    updated = await Author.update_fields(ada.id, age=37)
    assert updated is not None and (await Author.get(ada.id, use_cache=False)).age == 37
    assert await Author.update_fields(ada, name="ada2") is ada and (await Author.get(ada.id)).name == "ada2"
    missing = "00000000-0000-0000-0000-000000000000"
    assert await Author.update_fields(missing, age=1) is None
    assert await asyncio.to_thread(Author.exists_sync, name="bob")
    found = await asyncio.to_thread(Author.get_or_none_sync, name="bob")
    assert found is not None and found.age == 20
    assert await asyncio.to_thread(Author.get_or_none_sync, name="nobody") is None


async def test_query_builder_methods_of_2x() -> None:
    await Author.bulk_create([{"name": f"a{i}", "age": i % 3} for i in range(6)])
    assert (await Author.filter(name="a1").get_or_none()) is not None
    assert await Author.filter(name="zz").get_or_none() is None
    names = await Author.all().order_by("name").reverse().values_list("name", flat=True)
    assert names == [f"a{i}" for i in reversed(range(6))]
    assert await Author.all().reverse().count() == 6  # no ordering: unchanged
    grouped = Author.all().group_by("age").annotate(n=Count("id")).having(n__gte=2).order_by("age")
    assert await grouped.values("age", "n") == [{"age": 0, "n": 2}, {"age": 1, "n": 2}, {"age": 2, "n": 2}]
    with pytest.raises(ParameterError, match="having"):
        Author.all().annotate(n=Count("id")).having(age=1)
    with pytest.warns(UserWarning, match="no effect"):
        joined = Author.filter(age=1).join(Book, on="author_id")
    assert await joined.count() == 2
    qs = Author.filter(age=2).order_by("name")
    assert await asyncio.to_thread(qs.values_sync, "name") == [{"name": "a2"}, {"name": "a5"}]
    assert await asyncio.to_thread(qs.values_list_sync, "name", flat=True) == ["a2", "a5"]


async def test_functions_and_fields_of_2x(db: str) -> None:
    class V2Sample(Model):
        id = IntegerField(primary_key=True, null=False, default="v2_sample_id_seq")  # as 2.x generated it
        numbers = PrimitiveArrayField("integer", null=True)

        _table_name = "v2_sample"
        _database = "test"

    await executor.execute(db, "DROP TABLE IF EXISTS v2_sample", [])
    await executor.execute(db, "CREATE TABLE v2_sample (id serial PRIMARY KEY, numbers integer[])", [])
    made = [await V2Sample.create(numbers=[1, 2]), await V2Sample.create()]  # the sequence fills the key
    assert [m.id for m in made] == [1, 2] and made[0].numbers == [1, 2]
    assert (await V2Sample.get(1)).numbers == [1, 2]
    joined = dt.datetime(2024, 5, 17, 13, 45, tzinfo=dt.UTC)
    await Author.create(name="  padded  ", joined_at=joined)
    rows: list[Any] = (
        await Author.all()
        .annotate(t=Trim("name"), month=DateTrunc("month", "joined_at"))
        .values("t", "month")
    )
    assert rows == [{"t": "padded", "month": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)}]
    with pytest.raises(ParameterError, match="precision"):
        DateTrunc("fortnight", "joined_at")


async def test_async_db_manager_of_2x() -> None:
    from matrx_orm.core.async_db_manager import AsyncDatabaseManager

    await Author.create(name="raw")
    rows = await AsyncDatabaseManager.execute_query("test", "SELECT name FROM author WHERE name = $1", "raw")
    assert rows == [{"name": "raw"}]
    async with AsyncDatabaseManager.get_connection("test") as connection:
        assert await connection.fetchval("SELECT count(*) FROM author") == 1
