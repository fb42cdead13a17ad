"""QueryBuilder on a real PostgreSQL: lookups, Q, chaining, terminals, slicing, values; checked in Python."""

from __future__ import annotations

import pytest
from example_models import ALL, Author, Book
from test_crud import _quoted

from matrx_orm import ParameterError, Q, QueryError, UnknownFieldError, create_all
from matrx_orm.db import executor
from matrx_orm.exceptions import UnknownLookupError

NAMES = ["alice", "bob", "carol", "dave", "eve", "frank", "100%_real", "under_score", "Back\\slash", None]


@pytest.fixture(autouse=True)
async def people(db: str) -> list[Author]:
    await create_all(db, models=ALL)
    for model in ALL:
        await executor.execute(db, f"TRUNCATE {_quoted(model)} CASCADE", [])
    rows = []
    for i, name in enumerate(NAMES):
        rows.append(
            {
                "name": name or "nameless",
                "age": i * 10 if i != 3 else None,
                "email": f"{name}@example.com" if name and i % 2 == 0 else None,
                "is_active": i % 3 != 0,
            }
        )
    return await Author.bulk_create(rows)


def expected(predicate) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for i, name in enumerate(NAMES):
        row = {"name": name or "nameless", "age": i * 10 if i != 3 else None, "is_active": i % 3 != 0}
        if predicate(row):
            out.append(row["name"])
    return sorted(out)


async def names(qs) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(a.name for a in await qs.all())


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({"name": "alice"}, lambda r: r["name"] == "alice"),
        ({"age__gt": 40}, lambda r: r["age"] is not None and r["age"] > 40),
        ({"age__gte": 40}, lambda r: r["age"] is not None and r["age"] >= 40),
        ({"age__lt": 20}, lambda r: r["age"] is not None and r["age"] < 20),
        ({"age__lte": 20}, lambda r: r["age"] is not None and r["age"] <= 20),
        ({"name__ne": "bob"}, lambda r: r["name"] != "bob"),
        ({"age__in": [10, 20, 999]}, lambda r: r["age"] in (10, 20)),
        ({"age__in": []}, lambda r: False),
        ({"age__isnull": True}, lambda r: r["age"] is None),
        ({"age__isnull": False}, lambda r: r["age"] is not None),
        ({"age": None}, lambda r: r["age"] is None),
        ({"name__contains": "a"}, lambda r: "a" in r["name"]),
        ({"name__icontains": "BACK"}, lambda r: "back" in r["name"].lower()),
        ({"name__startswith": "c"}, lambda r: r["name"].startswith("c")),
        ({"name__endswith": "e"}, lambda r: r["name"].endswith("e")),
        ({"name__iexact": "ALICE"}, lambda r: r["name"].lower() == "alice"),
        ({"age__range": (20, 50)}, lambda r: r["age"] is not None and 20 <= r["age"] <= 50),
        ({"is_active": False, "age__gt": 0}, lambda r: not r["is_active"] and (r["age"] or 0) > 0),
    ],
)
async def test_lookups_match_python(filters, predicate) -> None:  # type: ignore[no-untyped-def]
    assert await names(Author.filter(**filters)) == expected(predicate)


async def test_like_metacharacters_are_literal() -> None:
    assert await names(Author.filter(name__contains="%")) == ["100%_real"]
    assert await names(Author.filter(name__contains="_")) == ["100%_real", "under_score"]
    assert await names(Author.filter(name__startswith="Back\\")) == ["Back\\slash"]
    assert await names(Author.filter(name__contains="%%")) == []


async def test_sql_injection_is_just_a_value() -> None:
    evil = "x'; DROP TABLE author; --"
    assert await Author.filter(name=evil).all() == []
    assert await Author.filter(name__icontains=evil).count() == 0
    assert await Author.count() == len(NAMES)


async def test_q_objects() -> None:
    got = await names(Author.filter(Q(name="alice") | Q(name="bob")))
    assert got == ["alice", "bob"]
    got = await names(Author.filter(~Q(is_active=True)))
    assert got == expected(lambda r: not r["is_active"])
    got = await names(Author.filter((Q(age__lt=20) | Q(age__gt=70)) & ~Q(name="alice"), is_active=True))
    assert got == expected(
        lambda r: (
            r["age"] is not None
            and (r["age"] < 20 or r["age"] > 70)
            and r["name"] != "alice"
            and r["is_active"]
        )
    )
    nested = Q(Q(name="carol") | Q(Q(age=10) & Q(is_active=True)))
    assert await names(Author.filter(nested)) == ["bob", "carol"]


async def test_exclude_and_chaining() -> None:
    qs = (
        Author.filter(age__isnull=False)
        .exclude(name__in=["alice", "bob"])
        .order_by("-age")
        .limit(3)
        .offset(1)
    )
    ages = [a.age for a in await qs.all()]
    all_ages = sorted((r for r in [i * 10 for i in range(10) if i != 3] if r not in (0, 10)), reverse=True)
    assert ages == all_ages[1:4]


async def test_immutability() -> None:
    base = Author.filter(is_active=True)
    narrowed = base.filter(age__gt=50)
    assert await base.count() == len(expected(lambda r: r["is_active"]))
    assert await narrowed.count() == len(expected(lambda r: r["is_active"] and (r["age"] or 0) > 50))


async def test_terminals() -> None:
    assert (await Author.filter(name="alice").get()).name == "alice"
    first = await Author.filter(age__isnull=False).order_by("age").first()
    last = await Author.filter(age__isnull=False).order_by("age").last()
    assert (first.age, last.age) == (0, 90)
    assert await Author.filter(name="nobody").first() is None
    assert await Author.filter(name="alice").exists() is True
    assert await Author.filter(name="nobody").exists() is False
    assert await Author.all().count() == len(NAMES)
    assert len(await Author.all()) == len(NAMES)


async def test_slicing() -> None:
    ordered = [a.name for a in await Author.all().order_by("name").all()]
    assert [a.name for a in await Author.all().order_by("name")[2:5].all()] == ordered[2:5]
    assert [a.name for a in await Author.all().order_by("name")[7:].all()] == ordered[7:]
    assert await Author.all().order_by("name")[2:5].count() == 3
    with pytest.raises(ParameterError):
        Author.all()[-1:]


async def test_values_and_values_list() -> None:
    rows = await Author.filter(name__in=["alice", "bob"]).order_by("name").values("name", "age")
    assert rows == [{"name": "alice", "age": 0}, {"name": "bob", "age": 10}]
    tuples = await Author.filter(name__in=["alice", "bob"]).order_by("name").values_list("name", "age")
    assert tuples == [("alice", 0), ("bob", 10)]
    flat = await Author.filter(age__lt=25).order_by("age").values_list("name", flat=True)
    assert flat == ["alice", "bob", "carol"]
    with pytest.raises(ParameterError):
        await Author.all().values_list("name", "age", flat=True)


async def test_select_loads_only_named_fields() -> None:
    author = await Author.filter(name="alice").select("name").get()
    assert author.name == "alice" and author.id is not None
    assert author.age is None and author.email is None


async def test_unknown_names_are_clear_errors() -> None:
    with pytest.raises(UnknownFieldError) as info:
        Author.filter(nmae="x")
    assert "nmae" in str(info.value) and "name" in str(info.value) and "Author" in str(info.value)
    with pytest.raises(UnknownLookupError) as lookup:
        Author.filter(age__greater=3)
    assert "gt" in str(lookup.value)
    with pytest.raises(UnknownFieldError):
        Author.all().order_by("-agee")
    with pytest.raises(ParameterError):
        await Author.filter(age__in="abc").all()
    with pytest.raises(ParameterError):
        await Author.filter(age__isnull="yes").all()


async def test_update_on_sliced_query_is_refused() -> None:
    with pytest.raises(QueryError):
        await Author.all()[0:2].update(age=1)


async def test_using_routes_to_another_database(db2: str) -> None:
    await create_all(db2, models=[Author])
    await executor.execute(db2, "TRUNCATE author CASCADE", [])
    assert await Author.all().using(db2).count() == 0
    assert await Author.count() == len(NAMES)


async def test_filter_on_foreign_key_alias() -> None:
    alice = await Author.get(name="alice")
    await Book.create(title="A", author_id=alice.id)
    assert [b.title for b in await Book.filter(author=alice).all()] == ["A"]
    assert [b.title for b in await Book.filter(author_id__in=[alice.id]).all()] == ["A"]
