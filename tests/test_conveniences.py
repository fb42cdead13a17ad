"""Default ordering, full_clean(), get_or_create / update_or_create / in_bulk and nested create, on a real
PostgreSQL (tables prefixed ``cv_``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from matrx_orm import (
    CharField,
    Count,
    DateTimeField,
    FieldError,
    ForeignKey,
    IntegerField,
    IntegrityError,
    ManyToManyField,
    Model,
    Paginator,
    ParameterError,
    QueryLog,
    RelationshipError,
    UnknownFieldError,
    UnknownRelationError,
    ValidationError,
    capture_queries,
    create_all,
    transaction,
)
from matrx_orm.db import executor

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class CvStamped(Model):
    created_at = DateTimeField(null=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "name"]


class CvWriter(CvStamped):
    """Ordering inherited from the abstract base's inner Meta."""

    id = IntegerField(primary_key=True)
    name = CharField(max_length=100, unique=True, null=False)
    email = CharField(max_length=100, null=True)
    tags = ManyToManyField("CvTag")

    _table_name = "cv_writer"
    _database = "test"
    _inverse_foreign_keys = {"posts": {"from_model": "CvPost", "from_field": "writer_id"}}


class CvPost(Model):
    id = IntegerField(primary_key=True)
    title = CharField(max_length=100, null=False)
    rank = IntegerField(default=0)
    writer_id = ForeignKey("CvWriter", "id")

    _table_name = "cv_post"
    _database = "test"
    _ordering = ["-rank", "title"]


class CvTag(Model):
    id = IntegerField(primary_key=True)
    label = CharField(max_length=50, null=False)

    _table_name = "cv_tag"
    _database = "test"

    class Meta:
        ordering = "label"


class CvSlot(Model):
    """A unique field and a unique-together constraint."""

    id = IntegerField(primary_key=True)
    room = CharField(max_length=20, null=False)
    day = IntegerField(null=False)
    code = CharField(max_length=20, unique=True, null=True)

    _table_name = "cv_slot"
    _database = "test"
    _constraints = [sa.UniqueConstraint("room", "day", name="cv_slot_room_day")]


CALLS: list[str] = []
#: the statements captured by the running test (clean() notes how many ran before it)
LOGS: list[QueryLog] = []


def _short(value: str) -> bool:
    CALLS.append("validator")
    return len(value) <= 8


async def _not_reserved(value: str) -> bool:
    CALLS.append("async validator")
    return value != "admin"


class CvEvent(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=20, null=False, unique=True, validators=[_short, _not_reserved])
    start = IntegerField(null=False)
    end = IntegerField(null=False)

    _table_name = "cv_event"
    _database = "test"

    def clean(self) -> None:
        CALLS.append(f"clean after {len(LOGS[0])} queries" if LOGS else "clean")
        if self.end is not None and self.start is not None and self.end < self.start:
            raise ValidationError({"end": "must not be before start"})


class CvCheckedEvent(Model):
    """Validated on every save, with an async clean()."""

    id = IntegerField(primary_key=True)
    name = CharField(max_length=20, null=False, unique=True)
    start = IntegerField(null=False)
    end = IntegerField(null=False)

    _table_name = "cv_checked_event"
    _database = "test"
    _validate_on_save = True

    async def clean(self) -> None:
        await asyncio.sleep(0)
        if self.end < self.start:
            raise ValidationError("an event cannot end before it starts")


MODELS = [CvWriter, CvPost, CvTag, CvSlot, CvEvent, CvCheckedEvent]


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await create_all(db, models=MODELS)
    names = ", ".join(f'"{m._meta.table_name}"' for m in MODELS)
    await executor.execute(db, f"TRUNCATE {names} CASCADE", [])
    CALLS.clear()
    LOGS.clear()


async def _writers() -> list[CvWriter]:
    """Five writers; by the default ordering (-created_at, name): eve, bob, dan, amy, cid."""
    rows = [
        ("amy", 1),
        ("bob", 3),
        ("cid", 0),
        ("dan", 3),
        ("eve", 4),
    ]
    return await CvWriter.bulk_create(
        [{"id": i + 1, "name": n, "created_at": T0 + dt.timedelta(days=d)} for i, (n, d) in enumerate(rows)]
    )


EXPECTED = ["eve", "bob", "dan", "amy", "cid"]


def _names(rows: list[Any]) -> list[str]:
    return [row.name for row in rows]


# -- default ordering ------------------------------------------------------------------------------------------


def test_ordering_is_read_from_class_attribute_inner_meta_and_abstract_base() -> None:
    assert CvWriter._meta.ordering == ("-created_at", "name")  # abstract base's Meta
    assert CvPost._meta.ordering == ("-rank", "title")  # _ordering
    assert CvTag._meta.ordering == ("label",)  # inner Meta, a single name
    assert CvSlot._meta.ordering == ()


def test_a_bad_name_in_the_ordering_fails_at_class_definition() -> None:
    with pytest.raises(UnknownFieldError, match="titel"):

        class CvBad(Model):
            title = CharField(max_length=10)
            _ordering = ["-titel"]
            _database = "test"
            _table_name = "cv_bad"

    with pytest.raises(FieldError, match="random ordering"):

        class CvRandom(Model):
            title = CharField(max_length=10)
            _ordering = ["?"]
            _database = "test"
            _table_name = "cv_random"


async def test_default_ordering_applies_to_every_read() -> None:
    await _writers()
    assert _names(await CvWriter.all()) == EXPECTED
    assert _names(await CvWriter.filter(id__gt=0).all()) == EXPECTED
    assert _names(await CvWriter.filter(id__gt=0)[1:3]) == EXPECTED[1:3]
    first, last = await CvWriter.all().first(), await CvWriter.all().last()
    assert first is not None and last is not None
    assert (first.name, last.name) == (EXPECTED[0], EXPECTED[-1])
    assert _names(await CvWriter.all().reverse()) == EXPECTED[::-1]
    assert [row["name"] for row in await CvWriter.all().values("name")] == EXPECTED
    assert await CvWriter.all().values_list("name", flat=True) == EXPECTED
    assert [row.name async for row in CvWriter.all().iterator(chunk_size=2)] == EXPECTED
    pages = [page.items async for page in Paginator(CvWriter.all(), per_page=2)]
    assert [_names(items) for items in pages] == [EXPECTED[:2], EXPECTED[2:4], EXPECTED[4:]]
    assert "ORDER BY cv_writer.created_at DESC, cv_writer.name" in CvWriter.all().sql()


async def test_order_by_replaces_the_default_and_order_by_without_arguments_clears_it() -> None:
    await _writers()
    assert _names(await CvWriter.all().order_by("name")) == sorted(EXPECTED)
    cleared = CvWriter.all().order_by()
    assert "ORDER BY" not in cleared.sql()
    assert sorted(_names(await cleared)) == sorted(EXPECTED)
    first = await cleared.first()  # no ordering left: first() falls back to the primary key
    assert first is not None and first.name == "amy"
    pages = [page.items async for page in Paginator(cleared, per_page=5)]
    assert _names(pages[0]) == ["amy", "bob", "cid", "dan", "eve"]


async def test_counts_aggregates_writes_and_groups_get_no_order_by() -> None:
    await _writers()
    with capture_queries() as log:
        assert await CvWriter.all().count() == 5
        assert await CvWriter.filter(name="amy").exists()
        assert await CvWriter.all().aggregate(n=Count("id")) == {"n": 5}
        assert await CvWriter.filter(name="cid").update(email="c@x") == 1
        assert await CvWriter.filter(email="c@x").delete() == 1
        assert await CvWriter.filter(id__in=CvWriter.filter(name="amy")).count() == 1
    assert len(log) == 6
    assert not [query.sql for query in log if "ORDER BY" in query.sql]
    grouped = CvWriter.all().annotate(n=Count("id")).group_by("created_at").order_by()
    groups = await CvWriter.all().annotate(n=Count("id")).group_by("created_at").values("created_at", "n")
    assert sorted(row["n"] for row in groups) == [1, 1, 2]  # bob and dan share a day
    assert "ORDER BY" not in grouped.sql()
    distinct = await CvWriter.all().distinct("created_at").values_list("created_at", flat=True)
    assert len(distinct) == 3  # DISTINCT ON without an order_by of its own is not ordered by the default


async def test_relation_loads_use_the_related_model_ordering() -> None:
    writer = await CvWriter.create(id=1, name="amy")
    await CvPost.bulk_create(
        [
            {"id": 1, "title": "b", "rank": 1, "writer_id": 1},
            {"id": 2, "title": "a", "rank": 1, "writer_id": 1},
            {"id": 3, "title": "c", "rank": 5, "writer_id": 1},
        ]
    )
    tags = [await CvTag.create(id=i, label=label) for i, label in enumerate(["red", "blue", "green"], 1)]
    await writer.add_m2m("tags", *tags)
    assert [p.title for p in await writer.fetch_ifk("posts")] == ["c", "a", "b"]
    assert [t.label for t in await writer.fetch_m2m("tags")] == ["blue", "green", "red"]
    (loaded,) = await CvWriter.filter(id=1).prefetch_related("posts", "tags").all()
    assert [p.title for p in loaded.get_related("posts")] == ["c", "a", "b"]
    assert [t.label for t in loaded.get_related("tags")] == ["blue", "green", "red"]
    assert [t.label for t in await writer.filter_one_relation("tags", id__gt=1)] == ["blue", "green"]


# -- validation ---------------------------------------------------------------------------------------------------


async def test_full_clean_runs_fields_then_clean_then_one_unique_query() -> None:
    await CvEvent.create(id=1, name="taken", start=1, end=2)
    CALLS.clear()
    event = CvEvent(id=2, name="taken", start=1, end=2)
    with capture_queries() as log:
        LOGS.append(log)
        with pytest.raises(ValidationError) as caught:
            await event.full_clean()
    assert CALLS[:3] == ["validator", "async validator", "clean after 0 queries"]
    assert len(log) == 1  # then every unique field and constraint in one query
    assert caught.value.errors == {"name": ["CvEvent with this name already exists"]}


async def test_full_clean_gathers_per_field_errors_and_skips_unique_checks_of_failed_fields() -> None:
    await CvEvent.create(id=1, name="admin", start=1, end=2)
    event = CvEvent(id=1, name="admin", start=5, end=1)
    event.__dict__["start"] = None
    with pytest.raises(ValidationError) as caught:
        await event.full_clean()
    errors = caught.value.errors
    assert errors["name"] == ["rejected by _not_reserved"]
    assert errors["start"] == ["may not be null"]
    assert errors["id"] == ["CvEvent with this id already exists"]  # a new row reusing a key
    too_long = CvEvent(id=3, name="much-too-long", start=3, end=1)
    with pytest.raises(ValidationError) as caught:
        await too_long.full_clean()
    assert set(caught.value.errors) == {"name", "end"}
    assert caught.value.errors["end"] == ["must not be before start"]
    with pytest.raises(ValidationError) as caught:
        await too_long.full_clean(exclude=["name"])  # clean() runs whatever is excluded
    assert caught.value.errors == {"end": ["must not be before start"]}


async def test_full_clean_excludes_fields_from_every_step() -> None:
    event = CvEvent(id=1, name="much-too-long", start=1, end=2)
    await event.full_clean(exclude=["name"])
    with pytest.raises(ValidationError, match="name"):
        await event.full_clean()


async def test_async_clean_and_validate_on_save() -> None:
    bad = CvCheckedEvent(id=1, name="x", start=5, end=1)
    with pytest.raises(ValidationError) as caught:
        await bad.full_clean()
    assert caught.value.errors == {"__all__": ["an event cannot end before it starts"]}
    with pytest.raises(ValidationError):
        await CvCheckedEvent.create(id=1, name="x", start=5, end=1)
    assert await CvCheckedEvent.count() == 0
    saved = await CvCheckedEvent.create(id=1, name="x", start=1, end=5)
    with pytest.raises(ValidationError):
        await saved.update(end=0)
    assert (await CvCheckedEvent.get(1, use_cache=False)).end == 5
    saved.end = 5  # update() had set the refused value
    await CvCheckedEvent.create(id=2, name="y", start=1, end=5)
    saved.name = "y"
    with pytest.raises(ValidationError) as caught:
        await saved.save()
    assert caught.value.errors == {"name": ["CvCheckedEvent with this name already exists"]}


async def test_save_and_create_do_not_validate_by_default() -> None:
    event = await CvEvent.create(id=1, name="admin", start=5, end=1)  # clean() and the async validator say no
    assert event.pk == 1
    assert CALLS == ["validator"]  # only the synchronous field check every write makes


async def test_validate_unique_ignores_the_instance_own_row_on_update() -> None:
    await CvEvent.create(id=1, name="one", start=1, end=2)
    await CvEvent.create(id=2, name="two", start=1, end=2)
    one = await CvEvent.get(1, use_cache=False)
    await one.full_clean()  # its own name is not a conflict
    await one.validate_unique()
    one.name = "two"
    with pytest.raises(ValidationError) as caught:
        await one.validate_unique()
    assert caught.value.errors == {"name": ["CvEvent with this name already exists"]}


async def test_validate_unique_with_a_unique_together_constraint() -> None:
    await CvSlot.create(id=1, room="a", day=1, code="x")
    clash = CvSlot(id=2, room="a", day=1, code="x")
    with capture_queries() as log, pytest.raises(ValidationError) as caught:
        await clash.validate_unique()
    assert len(log) == 1
    assert caught.value.errors == {
        "code": ["CvSlot with this code already exists"],
        "__all__": ["CvSlot with this room and day already exists"],
    }
    await clash.validate_unique(exclude=["day", "code"])
    await CvSlot(id=2, room="a", day=2, code=None).validate_unique()  # NULL is never a duplicate


def test_validation_error_errors_shapes() -> None:
    assert ValidationError("whole").errors == {"__all__": ["whole"]}
    assert ValidationError({"a": "x", "b": ["y", "z"]}).errors == {"a": ["x"], "b": ["y", "z"]}
    assert ValidationError(field="age", reason="too old").errors == {"age": ["too old"]}
    assert "a: x" in str(ValidationError(errors={"a": "x"}))


# -- get_or_create / update_or_create / in_bulk -------------------------------------------------------------------


async def test_get_or_create_uses_defaults_only_when_creating() -> None:
    made, created = await CvWriter.get_or_create(name="amy", defaults={"id": 1, "email": lambda: "a@x"})
    assert created and (made.id, made.email) == (1, "a@x")
    again, created = await CvWriter.get_or_create(name="amy", defaults={"id": 2, "email": "other"})
    assert not created and again.id == 1 and again.email == "a@x"


async def test_fifty_concurrent_get_or_create_make_one_row() -> None:
    # every task misses, then all but one lose the race on the unique name and read the winner's row
    results = await asyncio.gather(
        *(CvWriter.get_or_create(name="same", defaults={"id": i + 1}) for i in range(50))
    )
    assert sum(created for _, created in results) == 1
    winner = next(row for row, created in results if created)
    assert {row.pk for row, _ in results} == {winner.pk}
    assert await CvWriter.count() == 1
    by_key = await asyncio.gather(
        *(CvTag.get_or_create(id=7, defaults={"label": f"t{i}"}) for i in range(50))
    )
    assert sum(created for _, created in by_key) == 1 and await CvTag.count() == 1


async def test_concurrent_get_or_create_of_a_model_validated_on_save() -> None:
    # a loser may see the winner's row in validate_unique (ValidationError) instead of the unique index
    calls = (
        CvCheckedEvent.get_or_create(name="launch", defaults={"id": i + 1, "start": 1, "end": 2})
        for i in range(20)
    )
    results = await asyncio.gather(*calls)
    assert sum(created for _, created in results) == 1
    assert await CvCheckedEvent.count() == 1


async def test_get_or_create_inside_a_transaction_survives_a_lost_race() -> None:
    await CvTag.create(id=1, label="red")
    async with transaction("test"):
        # the lookup misses (case differs) and the INSERT hits the key: the savepoint keeps the transaction
        with pytest.raises(IntegrityError):
            await CvTag.get_or_create(label="RED", defaults={"id": 1})
        row, created = await CvTag.get_or_create(id=2, defaults={"label": "blue"})
    assert created and row.label == "blue"
    assert await CvTag.count() == 2


async def test_update_or_create_creates_then_updates() -> None:
    row, created = await CvWriter.update_or_create(
        name="amy", defaults={"email": "new@x"}, create_defaults={"id": 1, "email": "first@x"}
    )
    assert created and row.email == "first@x"
    row, created = await CvWriter.update_or_create(name="amy", defaults={"email": "new@x"})
    assert not created and row.email == "new@x" and row.id == 1
    stored = await CvWriter.get(1, use_cache=False)
    assert stored.email == "new@x"
    row, created = await CvWriter.update_or_create(name="bob", defaults={"id": 2, "email": "b@x"})
    assert created and (row.id, row.email) == (2, "b@x")  # defaults create when create_defaults is None


async def test_concurrent_update_or_create_make_one_row() -> None:
    results = await asyncio.gather(
        *(CvTag.update_or_create(id=3, defaults={"label": f"t{i}"}) for i in range(20))
    )
    assert sum(created for _, created in results) == 1
    assert await CvTag.count() == 1


async def test_in_bulk() -> None:
    await _writers()
    by_id = await CvWriter.in_bulk([3, 1, 99])
    assert list(by_id) == [3, 1] and by_id[3].name == "cid"
    by_name = await CvWriter.in_bulk(["eve", "amy"], field_name="name")
    assert {name: row.id for name, row in by_name.items()} == {"eve": 5, "amy": 1}
    assert set(await CvWriter.in_bulk([2], field_name="pk")) == {2}
    with capture_queries() as log:
        assert await CvWriter.in_bulk([]) == {}
    assert len(log) == 0
    with pytest.raises(ParameterError, match="unique"):
        await CvWriter.in_bulk(["a@x"], field_name="email")


# -- nested create ----------------------------------------------------------------------------------------------------


async def test_nested_create_writes_children_and_links_in_one_transaction() -> None:
    red, blue = await CvTag.create(id=1, label="red"), await CvTag.create(id=2, label="blue")
    writer = await CvWriter.create(
        id=1,
        name="ann",
        related={"posts": [{"id": 10, "title": "a"}, {"id": 11, "title": "b", "rank": 3}], "tags": [red, 2]},
    )
    assert [p.title for p in writer.get_related("posts")] == ["b", "a"]  # loaded, in CvPost's ordering
    assert {p.writer_id for p in writer.get_related("posts")} == {1}
    assert [t.label for t in writer.get_related("tags")] == ["blue", "red"]
    assert await CvPost.filter(writer_id=1).count() == 2
    assert [t.id for t in await writer.fetch_m2m("tags")] == [blue.id, red.id]


async def test_nested_create_rolls_back_everything_on_a_bad_child() -> None:
    await CvTag.create(id=1, label="red")
    with pytest.raises(ValidationError):  # title is NOT NULL
        await CvWriter.create(
            id=1, name="ann", related={"posts": [{"id": 10, "title": "a"}, {"id": 11, "title": None}]}
        )
    with pytest.raises(IntegrityError):  # no tag 99
        await CvWriter.create(
            id=1, name="ann", related={"posts": [{"id": 10, "title": "a"}], "tags": [1, 99]}
        )
    assert await CvWriter.count() == 0
    assert await CvPost.count() == 0


async def test_nested_create_checks_names_before_any_statement() -> None:
    with capture_queries() as log:
        with pytest.raises(UnknownRelationError):
            await CvWriter.create(id=1, name="ann", related={"postz": []})
        with pytest.raises(UnknownFieldError):
            await CvWriter.create(id=1, name="ann", related={"posts": [{"titel": "a"}]})
        with pytest.raises(ParameterError, match="fills in"):
            await CvWriter.create(id=1, name="ann", related={"posts": [{"title": "a", "writer_id": 5}]})
        with pytest.raises(RelationshipError, match="foreign key"):
            await CvPost.create(id=1, title="a", related={"writer": [1]})
    assert len(log) == 0
