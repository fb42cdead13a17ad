"""CRUD on a real PostgreSQL: create, get, save, update, delete, bulk ops, upsert, *_where."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from uuid import uuid4

import pytest
from example_models import ALL, Account, AuditEvent, Author, Book, Membership, Mood, User

from matrx_orm import (
    DoesNotExist,
    IntegrityError,
    MultipleObjectsReturned,
    OptimisticLockError,
    ParameterError,
    UnknownFieldError,
    ValidationError,
    capture_queries,
    create_all,
)
from matrx_orm.db import executor


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await create_all(db, models=ALL)
    for model in ALL:
        await executor.execute(db, f"TRUNCATE {_quoted(model)} CASCADE", [])


def _quoted(model: type) -> str:
    meta = model._meta
    return f'"{meta.db_schema}"."{meta.table_name}"' if meta.db_schema else f'"{meta.table_name}"'


async def raw_rows(sql: str, *params: object) -> list[dict]:
    return [dict(r) for r in await executor.fetch("test", sql, list(params))]


async def test_create_returns_stored_row_and_applies_defaults() -> None:
    author = await Author.create(name="alice", age=30, rating="4.5", joined_at="2024-05-01T10:00:00Z")
    assert isinstance(author.id, str) and len(author.id) == 36
    assert author.is_active is True
    assert author.rating == Decimal("4.50")
    assert author.joined_at == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    rows = await raw_rows("SELECT name, age, is_active FROM author WHERE id = $1", author.id)
    assert rows == [{"name": "alice", "age": 30, "is_active": True}]


async def test_serial_primary_key_and_foreign_key() -> None:
    author = await Author.create(name="bob")
    book = await Book.create(title="First", author_id=author.id)
    second = await Book.create(title="Second", author_id=author)  # an instance works as the key
    assert isinstance(book.id, int) and second.id == book.id + 1
    assert second.author_id == author.id
    assert book.pages == 100


async def test_foreign_key_violation_is_integrity_error_and_nothing_written() -> None:
    with pytest.raises(IntegrityError) as info:
        await Book.create(title="Orphan", author_id=str(uuid4()))
    assert info.value.model == "Book"
    assert "INSERT INTO book" in (info.value.query or "")
    assert await Book.count() == 0


async def test_unique_violation_is_integrity_error() -> None:
    await Author.create(name="carol")
    with pytest.raises(IntegrityError):
        await Author.create(name="carol")
    assert await Author.count(name="carol") == 1


async def test_validation_happens_before_the_database() -> None:
    with pytest.raises(ValidationError) as info:
        await Author.create(name="dave", age="not a number")
    assert info.value.field == "age" and "Author" in str(info.value)
    with pytest.raises(ValidationError):
        await Author.create(name="x" * 101)
    with pytest.raises(ValidationError):
        await Author.create(name=None)
    with pytest.raises(UnknownFieldError) as unknown:
        await Author.create(nme="dave")
    assert "name" in str(unknown.value)
    assert await Author.count() == 0


async def test_get_variants() -> None:
    alice = await Author.create(name="alice", age=30)
    await Author.create(name="alicia", age=30)
    assert (await Author.get(id=alice.id)).name == "alice"
    assert (await Author.get(alice.id)).name == "alice"
    assert (await Author.get(use_cache=False, name="alice")).id == alice.id
    assert await Author.get_or_none(name="nobody") is None
    with pytest.raises(DoesNotExist) as missing:
        await Author.get(name="nobody")
    assert missing.value.model == "Author"
    assert missing.value.details["filters"] == {"name": "nobody"}
    with pytest.raises(MultipleObjectsReturned):
        await Author.get(age=30)


async def test_save_inserts_new_then_updates() -> None:
    user = User(username="eve")
    await user.save()
    assert (await User.get(id=user.id)).username == "eve"
    user.username = "eve2"
    await user.save()
    assert await User.filter(username="eve2").count() == 1
    assert await User.count() == 1


async def test_save_with_preassigned_pk_inserts() -> None:
    pk = str(uuid4())
    await User(id=pk, username="frank").save()
    assert (await User.get(id=pk)).username == "frank"


async def test_instance_update_and_delete() -> None:
    author = await Author.create(name="gina", age=20)
    await author.update(age=21, email="g@example.com")
    fresh = await Author.get(id=author.id)
    assert (fresh.age, fresh.email) == (21, "g@example.com")
    assert await author.delete() == 1
    assert await author.delete() == 0
    assert not await Author.exists(id=author.id)


async def test_to_dict_gives_json_ready_values_as_matrx_orm_2() -> None:
    joined = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC)
    author = await Author.create(
        name="hal", profile={"a": [1, 2]}, tags=["x"], mood=Mood.SAD, rating=Decimal("4.50"), joined_at=joined
    )
    loaded = await Author.get(id=author.id)
    data = loaded.to_dict()
    assert data["name"] == "hal" and data["profile"] == {"a": [1, 2]} and data["tags"] == ["x"]
    assert data["mood"] == "sad" and data["rating"] == "4.50" and data["joined_at"] == str(joined)
    assert data["id"] == author.id and data["is_active"] is True
    assert set(data) == {
        "id",
        "name",
        "is_active",
        "rating",
        "joined_at",
        "profile",
        "tags",
        "mood",
    }  # no None
    json.dumps(data)  # JSON-ready as it is
    flat = loaded.to_flat_dict()
    assert flat["mood"] is Mood.SAD and flat["rating"] == Decimal("4.50") and flat["joined_at"] == joined
    assert "email" not in flat


async def test_json_values_of_every_type_round_trip() -> None:
    for i, value in enumerate([{"k": 1}, [1, "two"], "bare string", 42, 1.5, True, None]):
        author = await Author.create(name=f"json{i}", profile=value)
        assert (await Author.get(id=author.id)).profile == value


async def test_bulk_create_and_counts() -> None:
    authors = await Author.bulk_create([{"name": f"a{i}", "age": i} for i in range(50)])
    assert len(authors) == 50 and all(a.id for a in authors)
    assert await Author.count() == 50
    assert await Author.count(age__gte=25) == 25
    books = await Book.bulk_create([{"title": f"b{i}", "author_id": authors[0].id} for i in range(5)])
    assert sorted(b.id for b in books) == sorted(set(b.id for b in books))
    assert all(b.pages == 100 for b in books)


async def test_bulk_create_with_array_columns_uses_batched_path() -> None:
    authors = await Author.bulk_create([{"name": f"t{i}", "tags": ["a", str(i)]} for i in range(3)])
    assert [a.tags for a in await Author.filter(name__startswith="t").order_by("name").all()] == [
        ["a", "0"],
        ["a", "1"],
        ["a", "2"],
    ]
    assert len(authors) == 3


async def test_bulk_create_is_atomic() -> None:
    with pytest.raises(IntegrityError):
        await Author.bulk_create([{"name": "dup"}, {"name": "dup"}])
    with pytest.raises(ValidationError):
        await Author.bulk_create([{"name": "ok"}, {"name": "bad", "age": "x"}])
    assert await Author.count() == 0


async def test_bulk_update_and_bulk_delete() -> None:
    authors = await Author.bulk_create([{"name": f"u{i}", "age": i} for i in range(10)])
    for author in authors:
        author.age = author.age + 100
        author.is_active = False
    assert await Author.bulk_update(authors, ["age", "is_active"]) == 10
    assert sorted(await Author.all().values_list("age", flat=True)) == list(range(100, 110))
    assert await Author.count(is_active=True) == 0
    assert await Author.bulk_delete(authors[:4]) == 4
    assert await Author.bulk_delete([authors[4].id]) == 1
    assert await Author.count() == 5


async def test_composite_primary_key() -> None:
    await Membership.create(org="acme", member="ann", role="admin")
    await Membership.create(org="acme", member="ben")
    with pytest.raises(IntegrityError):
        await Membership.create(org="acme", member="ann")
    ann = await Membership.get(org="acme", member="ann")
    assert ann.pk == ("acme", "ann")
    await ann.update(role="owner")
    assert (await Membership.get(org="acme", member="ann")).role == "owner"
    assert await Membership.bulk_delete([("acme", "ben")]) == 1
    assert await Membership.count() == 1


async def test_upsert_inserts_then_updates() -> None:
    first = await Author.upsert(data={"name": "ivy", "email": "ivy@a"}, conflict_fields=["name"])
    second = await Author.upsert(
        data={"name": "ivy", "email": "ivy@b", "age": 5}, conflict_fields=["name"], update_fields=["email"]
    )
    assert first.id == second.id
    assert (second.email, second.age) == ("ivy@b", None)
    assert await Author.count() == 1


async def test_bulk_upsert() -> None:
    await Author.create(name="jo", age=1)
    rows = await Author.bulk_upsert(
        objects_data=[{"name": "jo", "age": 2}, {"name": "kim", "age": 3}], conflict_fields=["name"]
    )
    assert sorted((r.name, r.age) for r in rows) == [("jo", 2), ("kim", 3)]
    assert await Author.count() == 2


async def test_update_where_and_delete_where() -> None:
    await Author.bulk_create([{"name": f"w{i}", "age": i} for i in range(6)])
    result = await Author.update_where({"age__lt": 3}, email="low@x")
    assert result["rows_affected"] == 3 and result.rows_affected == 3
    assert sorted(a.name for a in result["updated_rows"]) == ["w0", "w1", "w2"]
    assert all(a.email == "low@x" for a in result.updated_rows)
    assert dict(result)["rows_affected"] == 3
    assert await Author.delete_where(age__gte=4) == 2
    assert await Author.count() == 4


async def test_update_where_builds_instances_on_first_read() -> None:
    await Author.bulk_create([{"name": f"l{i}", "age": i} for i in range(4)])
    result = await Author.update_where({"age__gte": 2}, email="lazy@x")
    assert result.rows_affected == 2
    assert result._rows is None  # nothing cached for Author, nobody read the rows: none built yet
    rows = result.updated_rows
    assert rows is result.updated_rows and rows is result["updated_rows"]  # built once
    assert sorted((a.name, a.email) for a in rows) == [("l2", "lazy@x"), ("l3", "lazy@x")]
    assert all(a._persisted for a in rows)
    assert "rows_affected=2" in repr(result)
    # with cached rows the cache needs the updated keys: it builds the instances and drops what changed
    cached = await Author.get(name="l1")
    with capture_queries() as queries:
        assert (await Author.get(id=cached.id)).age == 1
    assert queries == []  # served from the cache
    touched = await Author.update_where({"name": "l1"}, age=40)
    assert touched._rows is not None
    assert (await Author.get(name="l1")).age == 40 and cached.age == 1


async def test_query_update_and_delete_counts() -> None:
    await Author.bulk_create([{"name": f"q{i}", "age": i % 2} for i in range(8)])
    assert await Author.filter(age=1).update(email="odd") == 4
    assert await Author.filter(email="odd").count() == 4
    assert await Author.filter(age=0).delete() == 4
    assert await Author.count() == 4


async def test_version_field_optimistic_locking() -> None:
    account = await Account.create(balance="10.00")
    assert account.version == 1
    a = await Account.get(id=account.id)
    b = await Account.get(id=account.id)
    a.balance = Decimal("50.00")
    await a.save()
    assert a.version == 2
    b.balance = Decimal("75.00")
    with pytest.raises(OptimisticLockError):
        await b.save()
    assert (await Account.get(id=account.id)).balance == Decimal("50.00")


async def test_reserved_table_name_and_other_schema() -> None:
    await User.create(username="zed")
    assert await User.count() == 1
    event = await AuditEvent.create(action="login")
    assert AuditEvent._meta.qualified_table_name == "audit.audit_event"
    assert (await AuditEvent.get(id=event.id)).action == "login"


async def test_get_by_primary_key_matches_the_query_builder_path() -> None:
    alice = await Author.create(name="alice", age=30, profile={"k": [1, 2]}, tags=["a"], mood=Mood.HAPPY)
    fast = await Author.get(id=alice.id)
    general = await Author.filter(id=alice.id).get()
    assert fast.to_dict() == general.to_dict() == alice.to_dict()
    assert type(fast) is Author and fast._persisted
    book = await Book.create(title="t", author_id=alice.id)
    assert (await Book.get(book.id)).title == "t"  # serial integer primary key


async def test_get_by_primary_key_errors() -> None:
    with pytest.raises(DoesNotExist) as missing:
        await Author.get(id=str(uuid4()))
    assert missing.value.model == "Author"
    assert list(missing.value.details["filters"]) == ["id"]
    with pytest.raises(ValidationError) as bad:
        await Author.get(id="not-a-uuid")
    assert bad.value.model == "Author"
    with pytest.raises(DoesNotExist):
        await Author.get(id=None)  # IS NULL: never matches a primary key


async def test_get_on_composite_primary_key_uses_all_filters() -> None:
    await Membership.create(org="o1", member="m1", role="admin")
    await Membership.create(org="o1", member="m2")
    found = await Membership.get(org="o1", member="m1")
    assert found.role == "admin"
    with pytest.raises(MultipleObjectsReturned):
        await Membership.get(org="o1")


async def test_bulk_create_rejects_bad_input_before_writing() -> None:
    with pytest.raises(UnknownFieldError) as unknown:
        await Author.bulk_create([{"name": "ok"}, {"nmae": "typo"}])
    assert unknown.value.model == "Author"
    with pytest.raises(ParameterError):
        await Author.bulk_create([{"name": "ok"}, ("not", "a dict")])
    with pytest.raises(ValidationError) as too_long:
        await Author.bulk_create([{"name": "x" * 101}])
    assert too_long.value.field == "name"
    assert await Author.count() == 0


async def test_bulk_create_mixed_layouts_defaults_and_json() -> None:
    made = await Author.bulk_create(
        [
            {"name": "a", "profile": {"k": [1, 2]}, "is_active": False},
            {"age": 7, "name": "b"},  # other keys, other order
            Author(name="c", profile=["x", {"y": None}]),
            {"name": "d", "profile": "plain string"},
        ]
    )
    stored = {a.name: a for a in await Author.all()}
    assert [a.name for a in made] == ["a", "b", "c", "d"]
    assert stored["a"].profile == {"k": [1, 2]} and stored["a"].is_active is False
    assert stored["b"].age == 7 and stored["b"].is_active is True  # python default applied
    assert stored["c"].profile == ["x", {"y": None}]
    assert stored["d"].profile == "plain string"
    assert all(a._persisted for a in made) and {a.id for a in made} == set(stored[n].id for n in "abcd")


async def test_a_value_left_out_is_left_to_the_database(db: str) -> None:
    """A NOT NULL field with no value and no model default is left out of the INSERT: the database fills it
    (a default the model does not declare) or refuses it with its own NOT NULL error; an explicit None is
    refused before SQL."""
    from matrx_orm import CharField, IntegerField, IntegrityError, Model, UUIDField

    class Ticket(Model):
        code = UUIDField(primary_key=True)  # no default here, none in the database
        title = CharField(max_length=20)

        _table_name = "crud_ticket"
        _database = "test"

    class Counter(Model):
        id = IntegerField(primary_key=True)  # serial: the database generates it
        title = CharField(max_length=20)

        _table_name = "crud_counter"
        _database = "test"

    class Badge(Model):
        id = UUIDField(primary_key=True, null=False)  # the database default gen_random_uuid() fills it
        label = CharField(max_length=20, null=False)

        _table_name = "crud_badge"
        _database = "test"

    await create_all(db, models=[Ticket, Counter])
    await executor.execute(db, "DROP TABLE IF EXISTS crud_badge", [])
    await executor.execute(
        db, "CREATE TABLE crud_badge (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), label text NOT NULL)", []
    )
    for explicit_none in (
        lambda: Ticket.create(code=None, title="a"),
        lambda: Ticket.bulk_create([{"code": None, "title": "a"}]),
    ):
        with capture_queries() as queries, pytest.raises(ValidationError, match="code"):
            await explicit_none()
        assert queries == []
    for left_out in (
        lambda: Ticket.create(title="a"),
        lambda: Ticket.bulk_create([{"title": f"t{i}"} for i in range(5)]),
    ):
        with pytest.raises(IntegrityError) as refused:
            await left_out()
        assert refused.value.details["violation"] == "not_null"
    assert await Ticket.count() == 0
    made = await Counter.bulk_create([{"id": None, "title": "x"}, {"title": "y"}])
    assert [c.id for c in made] == sorted(c.id for c in made) and all(isinstance(c.id, int) for c in made)
    badge = await Badge.create(label="gold")
    assert isinstance(badge.id, str) and (await Badge.get(id=badge.id)).label == "gold"
    badges = await Badge.bulk_create([{"label": f"b{i}"} for i in range(6)])
    assert len({b.id for b in badges}) == 6 and await Badge.count() == 7
    with pytest.raises(IntegrityError):
        await Badge.create()  # the label has no default anywhere


async def test_lone_surrogates_are_a_validation_error_before_sql() -> None:
    bad = "lone \ud800 surrogate"
    attempts = [
        lambda: Author.create(name=bad),
        lambda: Author.bulk_create([{"name": f"a{i}" if i != 3 else bad} for i in range(6)]),
        lambda: Author.filter(name=bad).count(),
    ]
    for attempt in attempts:
        with capture_queries() as queries, pytest.raises(ValidationError, match="surrogate"):
            await attempt()
        assert queries == []
    assert await Author.count() == 0
    assert (await Author.create(name="Zoë 😀")).name == "Zoë 😀"  # non-ASCII text is fine
