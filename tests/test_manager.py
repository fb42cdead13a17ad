"""BaseManager on a real PostgreSQL: both ways of binding a model, every CRUD/bulk/dict method, the sync
wrappers (in a running loop they raise; from a plain script they work and leave no connection behind)."""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
import textwrap
import warnings
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest

from matrx_orm import (
    BaseDTO,
    BaseManager,
    BooleanField,
    CharField,
    ConfigurationError,
    DoesNotExist,
    ForeignKey,
    IntegerField,
    ManyToManyField,
    Model,
    ModelView,
    ParameterError,
    RelationshipError,
    SyncContextError,
    UnknownRelationError,
    UpdateResult,
    UUIDField,
    ValidationError,
    capture_queries,
    create_all,
)
from matrx_orm.db import executor
from matrx_orm.state import StateManager

REPO = Path(__file__).resolve().parents[1]


class MgPost(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    title = CharField(max_length=100, unique=True)
    is_published = BooleanField(default=False)
    views = IntegerField(default=0)

    _table_name = "mg_post"
    _database = "test"


class MgPair(Model):
    a = CharField(max_length=10)
    b = IntegerField()
    note = CharField(max_length=20, null=True)

    _primary_keys = ["a", "b"]
    _table_name = "mg_pair"
    _database = "test"


class PostManager(BaseManager[MgPost]):
    model = MgPost

    async def get_published(self) -> list[MgPost]:
        return await self.load_items(is_published=True, order_by="title")

    async def publish(self, post_id: str) -> MgPost:
        return await self.update_item(post_id, is_published=True)


class EnrichingManager(BaseManager[MgPost]):
    model = MgPost

    async def _initialize_runtime_data(self, item: MgPost) -> None:
        item.runtime_label = f"<{item.title}>"  # type: ignore[attr-defined]


class MgAuthor(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=50)

    _inverse_foreign_keys = {"articles": {"from_model": "MgArticle", "from_field": "author_id"}}
    _table_name = "mg_author"
    _database = "test"


class MgTag(Model):
    id = IntegerField(primary_key=True)
    label = CharField(max_length=20)

    _table_name = "mg_tag"
    _database = "test"


class MgArticle(Model):
    id = IntegerField(primary_key=True)
    title = CharField(max_length=50)
    author_id = ForeignKey("MgAuthor", "id")
    tags = ManyToManyField("MgTag")

    _table_name = "mg_article"
    _database = "test"


class ArticleManager(BaseManager[MgArticle]):
    model = MgArticle


MODELS: list[type[Model]] = [MgPost, MgPair, MgAuthor, MgTag, MgArticle]


@pytest.fixture(autouse=True)
async def tables(db: str) -> AsyncIterator[None]:
    await create_all(db, models=MODELS)
    for model in MODELS:
        await executor.execute(db, f'TRUNCATE "{model._meta.table_name}" CASCADE', [])
    await executor.execute(db, 'TRUNCATE "mg_article_mg_tag"', [])
    yield


@pytest.fixture
def manager() -> PostManager:
    return PostManager()


async def titles(rows: list[MgPost]) -> list[str]:
    return [row.title for row in rows]


# -- construction ------------------------------------------------------------------------------------------------


async def test_subclass_and_direct_construction_share_behaviour() -> None:
    direct = BaseManager(MgPost)
    sub = PostManager()
    created = await direct.create_item(title="hello")
    assert (await sub.load_by_id(created.id)).title == "hello"
    assert direct.model is MgPost and sub.model is MgPost
    assert repr(sub) == "<PostManager model=MgPost>"


def test_manager_without_a_model_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        BaseManager()
    assert "model = MyModel" in str(info.value)
    with pytest.raises(ConfigurationError):
        BaseManager(object)  # type: ignore[type-var]

    class Empty(BaseManager[MgPost]):
        pass

    with pytest.raises(ConfigurationError):
        Empty()


# -- reads --------------------------------------------------------------------------------------------------------


async def test_loading(manager: PostManager) -> None:
    a = await manager.create_item(title="a", is_published=True, views=3)
    b = await manager.create_item(title="b", views=1)
    c = await manager.create_item(title="c", is_published=True, views=2)
    assert (await manager.load_by_id(a.id)).views == 3
    assert (await manager.load_item(title="b")).id == b.id
    assert await manager.load_item_or_none(title="zzz") is None
    assert await manager.load_by_id_or_none(str(uuid4())) is None
    with pytest.raises(DoesNotExist):
        await manager.load_by_id(str(uuid4()))
    assert await titles(await manager.load_items(is_published=True, order_by="-views")) == ["a", "c"]
    assert await titles(await manager.filter_items(views__gte=2, order_by="title")) == ["a", "c"]
    assert await titles(await manager.load_all(order_by=["-is_published", "title"])) == ["a", "c", "b"]
    assert await titles(await manager.get_published()) == ["a", "c"]
    # in the order asked, unknown ids skipped, duplicates once
    found = await manager.load_items_by_ids([c.id, str(uuid4()), a.id, c.id])
    assert await titles(found) == ["c", "a"]
    assert await manager.load_items_by_ids([]) == []
    assert await manager.exists(a.id) is True
    assert await manager.exists(str(uuid4())) is False
    assert await manager.exists(title="b") is True and await manager.exists(title="nope") is False
    assert await manager.count() == 3 and await manager.count(is_published=True) == 2


async def test_load_item_uses_the_cache_and_can_skip_it(manager: PostManager) -> None:
    post = await manager.create_item(title="cached", views=1)
    await manager.load_by_id(post.id)
    await executor.execute("test", "UPDATE mg_post SET views = 50 WHERE id = $1", [post.id])
    assert (await manager.load_by_id(post.id)).views == 1
    assert (await manager.load_by_id(post.id, use_cache=False)).views == 50
    assert (await manager.load_item(use_cache=False, id=post.id)).views == 50


async def test_composite_primary_key_ids() -> None:
    pairs = BaseManager(MgPair)
    await pairs.create_item(a="x", b=1, note="n")
    assert (await pairs.load_by_id(("x", 1))).note == "n"
    assert (await pairs.load_by_id({"a": "x", "b": 1})).note == "n"
    assert (await pairs.update_item(("x", 1), note="m")).note == "m"
    assert await pairs.exists(("x", 1))
    with pytest.raises(ParameterError):
        await pairs.load_by_id("x")
    assert await pairs.delete_item(("x", 1)) == 1


# -- writes -------------------------------------------------------------------------------------------------------


async def test_create_update_delete(manager: PostManager) -> None:
    post = await manager.create_item(title="draft")
    updated = await manager.update_item(post.id, title="final", views=9)
    assert (updated.title, updated.views) == ("final", 9)
    row = await manager.load_by_id(post.id, use_cache=False)
    assert (row.title, row.views) == ("final", 9)
    assert (await manager.publish(post.id)).is_published is True
    assert await manager.delete_item(post.id) == 1
    assert await manager.delete_item(post.id) == 0  # already gone
    assert await manager.count() == 0
    with pytest.raises(DoesNotExist):
        await manager.update_item(post.id, title="x")
    with pytest.raises(ValidationError):
        await manager.create_item(title="x" * 101)
    assert await manager.count() == 0


async def test_bulk_methods(manager: PostManager) -> None:
    created = await manager.create_items([{"title": f"t{i}", "views": i} for i in range(7)], batch_size=3)
    assert [p.views for p in created] == list(range(7)) and all(p._persisted for p in created)
    assert await manager.count() == 7
    for post in created[:3]:
        post.views = 100
    assert await manager.update_items(created[:3], ["views"]) == 3
    assert await manager.count(views=100) == 3
    assert await manager.delete_items(created[:2]) == 2
    assert await manager.delete_items([created[2].id]) == 1
    assert await manager.count() == 4
    assert await manager.update_items([], ["views"]) == 0
    with pytest.raises(ParameterError):
        await manager.create_items([{"title": "x"}], ignore_conflicts=True)
    with pytest.raises(ParameterError):
        await manager.create_items([{"title": "x"}], batch_size=0)


async def test_get_or_create(manager: PostManager) -> None:
    first = await manager.get_or_create(title="unique", defaults={"views": 5})
    again = await manager.get_or_create(title="unique", defaults={"views": 99})
    assert first.id == again.id and again.views == 5
    plain = await manager.get_or_create(title="no-defaults")
    assert plain.views == 0 and await manager.count() == 2


async def test_upserts_and_where_methods(manager: PostManager) -> None:
    first = await manager.upsert_item({"title": "u", "views": 1}, conflict_fields=["title"])
    second = await manager.upsert_item({"title": "u", "views": 2}, conflict_fields=["title"])
    assert first.id == second.id and second.views == 2
    rows = await manager.upsert_items(
        [{"title": "u", "views": 3}, {"title": "v", "views": 4}],
        conflict_fields=["title"],
        update_fields=["views"],
    )
    assert sorted((r.title, r.views) for r in rows) == [("u", 3), ("v", 4)]
    assert await manager.upsert_items([], conflict_fields=["title"]) == []
    result = await manager.update_where({"views__gte": 3}, is_published=True)
    assert isinstance(result, UpdateResult) and result["rows_affected"] == 2
    assert sorted(r.title for r in result.updated_rows) == ["u", "v"]
    assert await manager.delete_where(title="v") == 1
    assert await manager.count() == 1


# -- dict variants and hooks ------------------------------------------------------------------------------------------


async def test_dict_variants(manager: PostManager) -> None:
    made = await manager.create_item_get_dict(title="d1", views=1)
    assert made is not None and made["title"] == "d1" and set(made) == set(MgPost._meta.field_names)
    other = await manager.create_item(title="d2", views=2)
    assert (await manager.get_item_dict(made["id"]))["views"] == 1  # type: ignore[index]
    assert (await manager.load_item_get_dict(title="d2"))["id"] == other.id  # type: ignore[index]
    assert sorted(d["title"] for d in await manager.get_items_dict()) == ["d1", "d2"]
    assert [d["title"] for d in await manager.filter_items_get_dict(views=2)] == ["d2"]
    assert sorted(d["title"] for d in await manager.load_all_dict()) == ["d1", "d2"]
    assert [d["title"] for d in await manager.load_items_by_ids_get_dict([other.id, made["id"]])] == [
        "d2",
        "d1",
    ]
    assert (await manager.update_item_get_dict(other.id, views=7))["views"] == 7  # type: ignore[index]


async def test_runtime_hook_runs_for_every_loaded_item() -> None:
    manager = EnrichingManager()
    created = await manager.create_item(title="hooked")
    assert created.runtime_label == "<hooked>"  # type: ignore[attr-defined]
    assert (await manager.load_by_id(created.id)).runtime_label == "<hooked>"  # type: ignore[attr-defined]
    items = await manager.load_items()
    assert [i.runtime_label for i in items] == ["<hooked>"]  # type: ignore[attr-defined]


# -- relations (delegated to the model's relation methods) ----------------------------------------------------------


async def _blog() -> tuple[list[MgAuthor], list[MgArticle], list[MgTag]]:
    authors = await MgAuthor.bulk_create([{"id": i, "name": f"author{i}"} for i in range(1, 4)])
    articles = await MgArticle.bulk_create(
        [{"id": i, "title": f"article{i}", "author_id": (i % 3) + 1} for i in range(1, 31)]
    )
    tags = await MgTag.bulk_create([{"id": i, "label": f"tag{i}"} for i in range(1, 4)])
    for article in articles:
        await article.add_m2m("tags", *[t.id for t in tags if t.id <= (article.id % 3) + 1])
    return authors, articles, tags


async def test_get_item_with_related_for_each_kind() -> None:
    await _blog()
    manager = ArticleManager()
    with capture_queries() as log:
        item, author = await manager.get_item_with_related(4, "author")
    assert len(log) == 1 and "JOIN" in log[0].sql  # a foreign key is joined
    assert item.id == 4 and author.id == 2 and author.name == "author2"
    assert item.get_related("author").id == 2
    with capture_queries() as log:
        item, author = await manager.get_item_with_related(4, "author_id", use_join=False)
    assert author.id == 2 and len(log) == 2  # load + fetch_fk
    _, tags = await manager.get_item_with_related(5, "tags")
    assert sorted(t.label for t in tags) == ["tag1", "tag2", "tag3"]
    author_item, articles = await BaseManager(MgAuthor).get_item_with_related(1, "articles")
    assert author_item.id == 1 and sorted(a.id for a in articles) == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    with pytest.raises(DoesNotExist):
        await manager.get_item_with_related(999, "author")
    with pytest.raises(RelationshipError) as info:  # UnknownRelationError, naming the close match
        await manager.get_item_with_related(1, "autor")
    assert "author" in str(info.value)


async def test_get_items_with_related_costs_a_fixed_number_of_queries() -> None:
    await _blog()
    manager = ArticleManager()
    with capture_queries() as log:
        items = await manager.get_items_with_related("author")
    assert len(items) == 30 and len(log) == 1
    assert all(item.get_related("author").id == item.author_id for item in items)
    with capture_queries() as log:
        items = await manager.get_items_with_related("tags", title__in=["article1", "article2", "article3"])
    assert len(log) == 2  # the items + one for the tags, never one query per item
    assert {i.id: len(i.get_related("tags")) for i in items} == {1: 2, 2: 3, 3: 1}
    with capture_queries() as log:
        authors = await BaseManager(MgAuthor).get_items_with_related("articles")
    assert len(log) == 2
    assert {a.id: len(a.get_related("articles")) for a in authors} == {1: 10, 2: 10, 3: 10}


async def test_all_related() -> None:
    await _blog()
    manager = ArticleManager()
    item, related = await manager.get_item_with_all_related(7)
    assert set(related) == {"foreign_keys", "inverse_foreign_keys", "many_to_many"}
    assert related["foreign_keys"]["author_id"].id == 2
    assert related["inverse_foreign_keys"] == {}
    assert sorted(t.id for t in related["many_to_many"]["tags"]) == [1, 2]
    with capture_queries() as log:
        items = await manager.get_items_with_all_related(author_id=1)
    assert [i.id for i in items] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert len(log) == 3  # items + authors + tags, whatever the number of items
    assert all(i.get_related("author").name == "author1" for i in items)
    assert [len(i.get_related("tags")) for i in items[:3]] == [1, 1, 1]
    data = await manager.get_item_with_all_related_dict(7)
    assert data["item"]["title"] == "article7"
    assert data["related"]["foreign_keys"]["author_id"] == {"id": 2, "name": "author2"}
    assert sorted(t["label"] for t in data["related"]["many_to_many"]["tags"]) == ["tag1", "tag2"]


async def test_fk_ifk_m2m_helpers_and_dicts() -> None:
    await _blog()
    manager = ArticleManager()
    item, author = await manager.get_item_with_fk(10, "author_id")
    assert author.id == 2
    with pytest.raises(RelationshipError):
        await manager.get_item_with_fk(10, "tags")
    author_item, articles = await BaseManager(MgAuthor).get_item_with_ifk(2, "articles")
    assert len(articles) == 10 and all(a.author_id == 2 for a in articles)
    with pytest.raises(RelationshipError):
        await manager.get_item_with_ifk(1, "author")
    item, tags = await manager.get_item_with_m2m(2, "tags")
    assert sorted(t.id for t in tags) == [1, 2, 3]
    one = await manager.get_item_with_related_dict(4, "author")
    assert one["title"] == "article4" and one["author"] == {"id": 2, "name": "author2"}
    many = await manager.get_items_with_related_dict("tags", id__in=[1, 2])
    assert sorted((d["id"], len(d["tags"])) for d in many) == [(1, 2), (2, 3)]


async def test_m2m_convenience_methods() -> None:
    await _blog()
    manager = ArticleManager()
    await manager.clear_m2m(1, "tags")
    assert await manager.add_m2m(1, "tags", 1, 2) == 2
    assert await manager.add_m2m(1, "tags", 2, 3) == 1  # idempotent: tag 2 was already linked
    assert sorted(t.id for t in (await manager.get_item_with_m2m(1, "tags"))[1]) == [1, 2, 3]
    assert await manager.remove_m2m(1, "tags", 3) == 1
    await manager.set_m2m(1, "tags", [3])
    assert [t.id for t in (await manager.get_item_with_m2m(1, "tags"))[1]] == [3]
    assert await manager.clear_m2m(1, "tags") == 1
    assert (await manager.get_item_with_m2m(1, "tags"))[1] == []
    rows = await executor.fetch("test", "SELECT count(*) FROM mg_article_mg_tag WHERE mg_article_id = 1", [])
    assert rows[0][0] == 0


# -- sync wrappers ------------------------------------------------------------------------------------------------------


async def test_sync_wrappers_refuse_to_run_inside_an_event_loop(manager: PostManager) -> None:
    with pytest.raises(SyncContextError) as info:
        manager.load_items_sync()
    assert "await PostManager.load_items(...)" in str(info.value)
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(SyncContextError):
        manager.get_published_sync()  # generated for a subclass's own async method
    with pytest.raises(SyncContextError) as model_info:
        MgPost.get_sync(id=str(uuid4()))
    assert "await get(...)" in str(model_info.value)
    for call in (MgPost.all_sync, MgPost.count_sync, lambda: MgPost.filter_sync(title="x")):
        with pytest.raises(SyncContextError):
            call()
    with pytest.raises(AttributeError):
        manager.no_such_thing_sync  # noqa: B018
    with pytest.raises(AttributeError):
        manager.model_sync  # noqa: B018  (not a coroutine method)
    assert await manager.count() == 0  # nothing ran


SYNC_SCRIPT = """
import asyncio, json, sys, time, warnings
from uuid import uuid4
import asyncpg
from matrx_orm import BaseManager, BooleanField, CharField, DatabaseProjectConfig, IntegerField, Model, UUIDField
from matrx_orm import register_database
from matrx_orm.db.sync import close_sync

url, app, close_explicitly = sys.argv[1], sys.argv[2], sys.argv[3] == "close"

class MgPost(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    title = CharField(max_length=100, unique=True)
    is_published = BooleanField(default=False)
    views = IntegerField(default=0)
    _table_name = "mg_post"
    _database = "test"

class PostManager(BaseManager):
    model = MgPost

    async def get_published(self):
        return await self.load_items(is_published=True, order_by="title")

def connections():
    async def count():
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app
            )
        finally:
            await conn.close()
    return asyncio.run(count())

register_database(DatabaseProjectConfig(
    name="test", url=url, pool_min_size=1, pool_max_size=3, server_settings={"application_name": app}
))
m = PostManager()
out = {}
a = m.create_item_sync(title="s1", views=1)
b = m.create_item_sync(title="s2", views=2, is_published=True)
m.create_items_sync([{"title": "s3"}, {"title": "s4"}])
out["load_by_id"] = m.load_by_id_sync(a.id).title
out["load_item"] = m.load_item_sync(title="s2").views
out["load_items"] = [p.title for p in m.load_items_sync(order_by="title")]
out["published"] = [p.title for p in m.get_published_sync()]
out["by_ids"] = [p.title for p in m.load_items_by_ids_sync([b.id, a.id])]
out["updated"] = m.update_item_sync(a.id, views=10).views
out["goc"] = m.get_or_create_sync(title="s5", defaults={"views": 5}).views
out["exists"] = [m.exists_sync(a.id), m.exists_sync(str(uuid4()))]
out["count"] = m.count_sync()
out["update_where"] = m.update_where_sync({"views__lt": 3}, views=3)["rows_affected"]
out["delete_where"] = m.delete_where_sync(title="s4")
out["deleted"] = m.delete_item_sync(b.id)
out["upsert"] = m.upsert_item_sync({"title": "s1", "views": 11}, ["title"]).views
out["item_dict"] = m.get_item_dict_sync(a.id)["views"]
out["model_get"] = MgPost.get_sync(id=a.id).title
out["model_filter"] = sorted(p.title for p in MgPost.filter_sync(views__gte=3))
out["model_all"] = len(MgPost.all_sync())
out["model_count"] = MgPost.count_sync(is_published=False)
for _ in range(40):
    m.count_sync()
out["connections_in_use"] = connections()
if close_explicitly:
    close_sync()
    for _ in range(50):
        out["connections_after_close"] = connections()
        if out["connections_after_close"] == 0:
            break
        time.sleep(0.05)
    out["after_reopen"] = m.count_sync()
print(json.dumps(out))
"""


def _run_sync_script(pg_url: str, app: str, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-W",
            "error::ResourceWarning",
            "-c",
            textwrap.dedent(SYNC_SCRIPT),
            pg_url,
            app,
            mode,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


async def _connections_of(app: str) -> int:
    import asyncio

    for _ in range(50):
        rows = await executor.fetch(
            "test", "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", [app]
        )
        if rows[0][0] == 0:
            return 0
        await asyncio.sleep(0.05)
    return int(rows[0][0])


@pytest.mark.parametrize("mode", ["close", "exit"])
async def test_sync_wrappers_from_a_plain_script(pg_url: str, mode: str) -> None:
    app = f"matrx-sync-{uuid4().hex[:8]}"
    result = _run_sync_script(pg_url, app, mode)
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr and "ResourceWarning" not in result.stderr, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["load_by_id"] == "s1" and out["load_item"] == 2
    assert out["load_items"] == ["s1", "s2", "s3", "s4"]
    assert out["published"] == ["s2"] and out["by_ids"] == ["s2", "s1"]
    assert out["updated"] == 10 and out["goc"] == 5 and out["exists"] == [True, False]
    assert out["count"] == 5
    assert out["update_where"] == 3  # s2 (2), s3 and s4 (0)
    assert out["delete_where"] == 1 and out["deleted"] == 1
    assert out["upsert"] == 11 and out["item_dict"] == 11 and out["model_get"] == "s1"
    assert out["model_filter"] == ["s1", "s3", "s5"]
    assert out["model_all"] == 3 and out["model_count"] == 3
    # ~60 sync calls reused one pool: at most pool_max_size connections, never one per call
    assert 1 <= out["connections_in_use"] <= 3
    if mode == "close":
        assert out["connections_after_close"] == 0 and out["after_reopen"] == 3
    assert await _connections_of(app) == 0  # nothing left once the script is gone
    assert await MgPost.count() == 3
    StateManager.reset()


# -- matrx-orm 2.x surface: constructor, DTO/view attachment, active items, relation names --------------------------


class MgNode(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=20)
    parent_id = ForeignKey("MgNode", "id", null=True)

    _table_name = "mg_node"
    _database = "test"


class MgMessage(Model):
    id = IntegerField(primary_key=True)
    sender_id = ForeignKey("MgAuthor", "id")
    recipient_id = ForeignKey("MgAuthor", "id")

    _table_name = "mg_message"
    _database = "test"


@dataclasses.dataclass
class PostDTO(BaseDTO):
    id: str
    label: str | None = None
    builds: ClassVar[list[str]] = []

    async def _initialize_dto(self, model: Any) -> None:
        PostDTO.builds.append(model.id)
        self.label = model.title.upper()


class LoudPostView(ModelView):
    exclude = ["views"]

    async def loud(self, model: MgPost) -> str:
        return f"{model.title}!"


@pytest.fixture
async def extra_tables(db: str) -> None:
    await create_all(db, models=[MgNode, MgMessage])
    await executor.execute(db, "TRUNCATE mg_node, mg_message", [])


async def test_2x_constructor_forms() -> None:
    positional = BaseManager(MgPost, PostDTO)
    assert positional.dto_class is PostDTO and positional.view_class is None

    class Sub(BaseManager[MgPost]):
        view_class = LoudPostView

        def __init__(self) -> None:
            super().__init__(MgPost, dto_class=PostDTO)

    sub = Sub()
    assert sub.model is MgPost and sub.dto_class is PostDTO and sub.view_class is LoudPostView
    assert BaseManager(MgPost, view_class=LoudPostView, fetch_on_init_limit=0).view_class is LoudPostView
    assert PostManager().dto_class is None and PostManager().active_item_ids == set()


async def test_dto_or_view_attached_once_per_item_after_the_hook() -> None:
    PostDTO.builds.clear()
    seen: list[str] = []

    class Hooked(BaseManager[MgPost]):
        model = MgPost
        dto_class = PostDTO

        async def _initialize_runtime_data(self, item: MgPost) -> None:
            seen.append("hook")

        async def _initialize_dto_runtime(self, dto: BaseDTO, item: MgPost) -> None:
            seen.append("dto")

    manager = Hooked()
    post = await manager.create_item(title="a")
    assert seen == ["hook", "dto"] and PostDTO.builds == [post.id]
    assert post.dto is post.runtime.dto and post.dto.to_dict() == {"id": post.id, "label": "A"}
    assert post.to_dict()["dto"] == {"id": post.id, "label": "A"}
    await manager.create_item(title="b")
    PostDTO.builds.clear()
    assert len(await manager.load_items()) == 2 and len(PostDTO.builds) == 2  # once per item
    assert await manager.get_item_dict(post.id) == {"id": post.id, "label": "A"}  # the DTO's dict
    viewed = await BaseManager(MgPost, PostDTO, LoudPostView).load_by_id(post.id)
    assert "dto" not in viewed.__dict__
    assert viewed.to_dict()["loud"] == "a!" and "views" not in viewed.to_dict()


async def test_active_set_holds_primary_keys(manager: PostManager) -> None:
    a = await manager.create_item(title="a")
    b = await manager.create_item(title="b")
    await manager.load_by_id(a.id)
    await manager.load_item(title="b")
    assert manager.active_item_ids == set()  # create / load_by_id / load_item do not activate
    await manager.load_items(title="b")
    assert manager.active_item_ids == {b.id}
    assert (await manager.get_active_item(a.id)).id == a.id  # really added
    assert [p.id for p in await manager.get_active_items()] == [b.id, a.id]  # in the order added
    assert [d["title"] for d in await manager.get_active_items_dict()] == ["b", "a"]  # no DTO: model dicts
    with pytest.raises(DoesNotExist):
        await manager.add_active_by_id(str(uuid4()))
    assert len(manager.active_item_ids) == 2  # nothing added for a missing row
    assert await manager.delete_item(b.id) == 1 and manager.active_item_ids == {a.id}
    await executor.execute("test", "DELETE FROM mg_post WHERE id = $1", [a.id])
    with pytest.raises(DoesNotExist):  # deleted behind the manager's back
        await manager.get_active_items()
    await manager.remove_all_active()
    assert await manager.get_active_items() == [] and await manager.get_active_item_with_all_related() is None
    pairs = BaseManager(MgPair)
    await pairs.create_items([{"a": "x", "b": 1}, {"a": "y", "b": 2}])
    await pairs.add_active_by_ids([("y", 2), {"a": "x", "b": 1}, ("z", 9)])
    assert pairs.active_item_ids == {("y", 2), ("x", 1)}
    await pairs.remove_active_by_id(("x", "1"))  # converted like the key fields convert
    assert [p.pk for p in await pairs.get_active_items()] == [("y", 2)]


async def test_relation_names_by_table_name(extra_tables: None) -> None:
    await _blog()
    articles = ArticleManager()
    item, author = await articles.get_item_with_related(4, "mg_author")  # FK author_id, by its table
    assert author.id == 2 and item.get_related("author").id == 2
    _, tags = await articles.get_item_with_related(5, "mg_tag")  # many-to-many, by the target's table
    assert len(tags) == 3
    _, written = await BaseManager(MgAuthor).get_item_with_related(1, "mg_article")  # inverse FK
    assert len(written) == 10
    assert (await articles.get_item_with_fk(7, "mg_author"))[1].id == 2
    await MgNode.bulk_create([{"id": 1, "name": "root"}, {"id": 2, "name": "kid", "parent_id": 1}])
    _, parent = await BaseManager(MgNode).get_item_with_related(2, "self_reference")
    assert parent.name == "root"
    await MgMessage.create(id=1, sender_id=1, recipient_id=2)
    with pytest.raises(UnknownRelationError) as ambiguous:
        await BaseManager(MgMessage).get_item_with_related(1, "mg_author")
    assert sorted(ambiguous.value.choices) == ["recipient_id", "sender_id"]
    assert "ambiguous" in str(ambiguous.value)
    with pytest.raises(UnknownRelationError) as unknown:
        await articles.get_item_with_related(1, "authors")
    assert "author_id" in unknown.value.choices
    with pytest.raises(RelationshipError):
        await articles.get_item_with_ifk(1, "mg_author")  # a foreign key, not an inverse one


async def test_active_items_with_relations(extra_tables: None) -> None:
    await _blog()
    articles = ArticleManager()
    await articles.load_items_by_ids([3, 1, 2])
    with capture_queries() as log:
        items = await articles.get_active_items_with_all_related()
    assert [i.id for i in items] == [3, 1, 2] and len(log) == 3  # items + authors + tags
    assert [i.get_related("author").id for i in items] == [1, 2, 3]
    assert [i.get_related("author").id for i in await articles.get_active_items_with_fks()] == [1, 2, 3]
    tagged = await articles.get_items_with_related_list(["tags"])
    assert [len(i.get_related("tags")) for i in tagged] == [1, 2, 3]
    listed = await articles.get_active_item_with_related_models_list_dict(["mg_author"])
    assert [d["mg_author"]["name"] for d in listed] == ["author1", "author2", "author3"]
    everything = await articles.get_active_items_with_all_related_dict()
    assert everything[0]["author"] == {"id": 1, "name": "author1"} and everything[0]["author_id"] == 1
    first = await articles.get_active_item_with_all_related()
    assert first is not None and first.id == 3  # the one added first
    authors = BaseManager(MgAuthor)
    await authors.add_active_by_ids([2, 1])
    first_author = await authors.get_active_item_with_ifk("articles")
    assert first_author is not None and first_author.id == 2
    assert len(first_author.get_related("articles")) == 10
    with_ifks = await authors.get_active_items_with_ifks_dict()
    assert [len(d["articles"]) for d in with_ifks] == [10, 10]
    one = await authors.get_active_item_with_one_relation_dict("articles")
    assert [d["id"] for d in one] == [2, 1]
    author, rows, tags = await authors.get_active_item_through_ifk(2, "articles", "tags")
    assert author.id == 2 and len(rows) == 10 and sorted(t.id for t in tags) == [1, 2]  # each tag once
    await MgNode.bulk_create([{"id": 1, "name": "a"}, {"id": 2, "name": "b", "parent_id": 1}])
    await MgNode.create(id=3, name="c", parent_id=2)
    nodes = BaseManager(MgNode)
    chain = await nodes.get_item_through_fk(3, "parent_id", "self_reference")
    assert [n.name for n in chain] == ["c", "b", "a"]
    _, parent, grand = await nodes.get_active_item_with_through_fk(2, "parent", "parent_id")
    assert (parent.name, grand) == ("a", None) and nodes.active_item_ids == {2}


async def test_more_2x_methods(manager: PostManager) -> None:
    made = await manager.create_item_get_object(title="obj", views=4)
    assert (await manager.load_item_with_retry(title="obj")).id == made.id
    assert (await manager.load_by_id_with_retry(made.id)).views == 4
    with capture_queries() as log, pytest.raises(DoesNotExist):
        await manager.load_by_id_with_retry(str(uuid4()))
    assert len(log) == 2  # asked twice
    assert [p.id for p in await manager.filter_items_by_ids([made.id])] == [made.id]
    assert manager.active_item_ids == {made.id}
    manager.add_computed_field("runtime")
    manager.add_relation_field("dto")
    attributes = manager.get_item_attributes(made)
    assert attributes["title"] == "obj" and attributes["pk"] == made.id and "runtime" in attributes
    assert manager.get_item_attributes(None) == {}
    assert not any(callable(v) for k, v in attributes.items() if k != "runtime")
    manager_attributes = manager.get_all_attributes()
    assert manager_attributes["model"] is MgPost and manager_attributes["active_item_ids"] == {made.id}
    assert manager_attributes["computed_fields"] == {"runtime"}
    await _blog()
    dicts = await ArticleManager().get_items_with_all_related_dict(id__in=[1])
    assert dicts[0]["author"]["name"] == "author2" and len(dicts[0]["tags"]) == 2


async def test_initialize_with_fetch_on_init_limit(manager: PostManager) -> None:
    await manager.create_items([{"title": f"p{i}"} for i in range(3)])
    warm = BaseManager(MgPost, fetch_on_init_limit=2)
    assert warm.active_item_ids == set()  # an event loop is running: nothing happens in the background
    with pytest.warns(UserWarning, match="reached"):
        await warm.initialize()
    assert len(warm.active_item_ids) == 2
    big = BaseManager(MgPost, fetch_on_init_limit=150)
    with pytest.warns(UserWarning, match="loads up to 150 rows"):
        await big.initialize()
    quiet = BaseManager(
        MgPost,
        fetch_on_init_limit=150,
        FETCH_ON_INIT_WITH_WARNINGS_OFF="YES_I_KNOW_WHAT_IM_DOING_TURN_OFF_WARNINGS_FOR_LIMIT_200",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len((await quiet.initialize()).active_item_ids) == 3
    with pytest.raises(SyncContextError):
        quiet.get_active_items_sync()
    with pytest.raises(SyncContextError):
        quiet.initialize_sync()


async def test_base_dto_from_model_and_to_dict() -> None:
    class Tone(enum.Enum):
        LOUD = "loud"

    @dataclasses.dataclass
    class Node(BaseDTO):
        id: str
        peer: Any = None

    @dataclasses.dataclass
    class Outer(BaseDTO):
        id: str
        tone: Any = None
        ref: Any = None
        items: Any = None
        node: Any = None
        unset: Any = None

    class Plain(BaseDTO):
        title: str

    first, second = Node(id="a"), Node(id="b")
    first.peer, second.peer = second, first
    key = UUID("12345678-1234-5678-1234-567812345678")
    outer = Outer(id="o", tone=Tone.LOUD, ref=key, items=[1, {"k": Decimal("1.5")}], node=first)
    assert outer.to_dict() == {
        "id": "o",
        "tone": "loud",
        "ref": str(key),
        "items": [1, {"k": "1.5"}],
        "node": {"id": "a", "peer": {"id": "b", "peer": {"__circular__": "<Circular reference to Node>"}}},
    }
    pair = MgPair(a="x", b=1, note="n")
    plain = await Plain.from_model(pair)
    assert plain.id == "x_1" and pair.runtime.dto is plain  # the composite key's values
    assert plain.note == "n"  # read through to the model
    assert plain.to_dict() == {"id": "x_1"}
    assert Plain(id="1", title="t").to_dict() == {"id": "1", "title": "t"}
    assert plain.initialized is False
