"""Many-to-many: declarative ManyToManyField (junction naming, create_all), config-based _many_to_many,
fetch/add/remove/set/clear, idempotency, validation before any query, transactions, resilience."""

from __future__ import annotations

import logging

import pytest
from relation_models import (
    RArticle,
    RBroken,
    RDish,
    RIngredient,
    RLabel,
    RPerson,
    RPost,
    RTag,
    RUser,
    reset_tables,
)

from matrx_orm import RelationshipError, UnknownRelationError, ValidationError, capture_queries, transaction
from matrx_orm.db import executor


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await reset_tables(db)


async def _links(table: str, source_column: str, target_column: str) -> list[tuple[int, int]]:
    rows = await executor.fetch(
        "test", f'SELECT "{source_column}", "{target_column}" FROM "{table}" ORDER BY 1, 2', []
    )
    return [(row[0], row[1]) for row in rows]


async def _tags(*names: str) -> list[RTag]:
    return [await RTag.create(id=i + 1, name=name) for i, name in enumerate(names)]


async def test_declared_junction_table_is_created_with_sorted_name_and_table_id_columns() -> None:
    columns = await executor.fetch(
        "test",
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_name = ANY($1) ORDER BY table_name, ordinal_position",
        [["rel_article_rel_tag", "rel_dish_ingredients", "rel_person_rel_person"]],
    )
    assert [(r[0], r[1]) for r in columns] == [
        ("rel_article_rel_tag", "rel_article_id"),
        ("rel_article_rel_tag", "rel_tag_id"),
        ("rel_dish_ingredients", "rel_dish_id"),  # db_table= names the table; columns stay <table>_id
        ("rel_dish_ingredients", "rel_ingredient_id"),
        ("rel_person_rel_person", "from_rel_person_id"),  # a self-relation needs two distinct names
        ("rel_person_rel_person", "to_rel_person_id"),
    ]


async def test_add_fetch_remove_set_clear() -> None:
    red, green, blue, black = await _tags("red", "green", "blue", "black")
    article = await RArticle.create(id=1, title="t")
    other = await RArticle.create(id=2, title="o")
    await other.add_m2m("tags", red.id)

    assert await article.add_m2m("tags", blue.id, red.id) == 2
    assert [t.name for t in await article.fetch_m2m("tags")] == ["red", "blue"]  # ordered by target key
    assert await _links("rel_article_rel_tag", "rel_article_id", "rel_tag_id") == [(1, 1), (1, 3), (2, 1)]

    assert await article.remove_m2m("tags", blue.id, black.id) == 1
    assert [t.id for t in await article.fetch_m2m("tags")] == [red.id]

    await article.set_m2m("tags", [green.id, black.id, green.id])
    assert [t.name for t in await article.fetch_m2m("tags")] == ["green", "black"]

    assert await article.clear_m2m("tags") == 2
    assert await article.fetch_m2m("tags") == []
    assert await _links("rel_article_rel_tag", "rel_article_id", "rel_tag_id") == [(2, 1)]  # other untouched


async def test_add_m2m_is_idempotent_and_accepts_instances_and_lists() -> None:
    red, green = await _tags("red", "green")
    article = await RArticle.create(id=1, title="t")
    assert await article.add_m2m("tags", red, green.id) == 2
    assert await article.add_m2m("tags", red.id, green.id) == 0  # ON CONFLICT DO NOTHING
    assert await article.add_m2m("tags", [red.id, red.id]) == 0
    assert await _links("rel_article_rel_tag", "rel_article_id", "rel_tag_id") == [(1, 1), (1, 2)]


async def test_reverse_side_through_related_name() -> None:
    red, green = await _tags("red", "green")
    a1 = await RArticle.create(id=1, title="one")
    a2 = await RArticle.create(id=2, title="two")
    await a1.add_m2m("tags", red.id, green.id)
    await a2.add_m2m("tags", red.id)
    assert [a.title for a in await red.fetch_m2m("articles")] == ["one", "two"]
    await green.add_m2m("articles", a2.id)
    assert [t.name for t in await a2.fetch_m2m("tags")] == ["red", "green"]


async def test_custom_db_table_and_self_relation() -> None:
    dish = await RDish.create(id=1, name="soup")
    salt = await RIngredient.create(id=1, name="salt")
    await dish.add_m2m("ingredients", salt.id)
    assert await _links("rel_dish_ingredients", "rel_dish_id", "rel_ingredient_id") == [(1, 1)]
    assert [i.name for i in await dish.fetch_m2m("ingredients")] == ["salt"]

    ann, bob, cid = [await RPerson.create(id=i, name=n) for i, n in ((1, "ann"), (2, "bob"), (3, "cid"))]
    await ann.add_m2m("friends", bob.id, cid.id)
    assert [p.name for p in await ann.fetch_m2m("friends")] == ["bob", "cid"]
    assert await bob.fetch_m2m("friends") == []  # the relation is directed


async def test_config_based_junction_without_unique_constraint_stays_idempotent() -> None:
    user = await RUser.create(name="u")
    post = await RPost.create(id=1, title="p", author_id=user.id)
    news = await RLabel.create(id=5, name="news")
    tech = await RLabel.create(id=6, name="tech")
    assert await post.add_m2m("labels", news.id, tech.id) == 2
    assert await post.add_m2m("labels", news.id) == 0  # rel_post_label has no unique (post_id, label_id)
    assert await _links("rel_post_label", "post_id", "label_id") == [(1, 5), (1, 6)]
    assert [label.name for label in await post.fetch_m2m("labels")] == ["news", "tech"]
    await post.set_m2m("labels", [tech.id])
    assert await _links("rel_post_label", "post_id", "label_id") == [(1, 6)]


async def test_bad_input_raises_before_any_query_and_writes_nothing() -> None:
    (red,) = await _tags("red")
    article = await RArticle.create(id=1, title="t")
    with capture_queries() as log:
        with pytest.raises(ValidationError):
            await article.add_m2m("tags", red.id, "not-an-int")
        with pytest.raises(ValidationError):
            await article.set_m2m("tags", [red.id, "x"])
        with pytest.raises(RelationshipError):
            await article.add_m2m("tags", None)
        with pytest.raises(RelationshipError, match="saved"):
            await RArticle(title="unsaved").add_m2m("tags", red.id)
        with pytest.raises(RelationshipError, match="links RTag rows; got a RArticle instance"):
            await article.add_m2m("tags", article)  # its key 1 would link tag 1
        with pytest.raises(RelationshipError, match="saved RTag"):
            await article.add_m2m("tags", RTag(name="unsaved"))
        with pytest.raises(RelationshipError, match="got a RUser instance"):
            await article.set_m2m("tags", [red, RUser(name="u")])
        with pytest.raises(UnknownRelationError) as info:
            await article.fetch_m2m("tag")
        assert info.value.suggestions == ["tags"]
    assert len(log) == 0
    assert await _links("rel_article_rel_tag", "rel_article_id", "rel_tag_id") == []


async def test_set_m2m_inside_a_rolled_back_transaction_changes_nothing() -> None:
    red, green = await _tags("red", "green")
    article = await RArticle.create(id=1, title="t")
    await article.add_m2m("tags", red.id)
    with pytest.raises(RuntimeError):
        async with transaction("test"):
            await article.set_m2m("tags", [green.id])  # a savepoint inside the outer transaction
            assert [t.name for t in await article.fetch_m2m("tags")] == ["green"]
            raise RuntimeError
    assert [t.name for t in await article.fetch_m2m("tags")] == ["red"]


async def test_fetch_m2ms_is_resilient(caplog: pytest.LogCaptureFixture) -> None:
    (red,) = await _tags("red")
    broken = await RBroken.create(id=1)
    await broken.add_m2m("tags", red.id)
    with caplog.at_level(logging.WARNING, logger="matrx_orm.relations"):
        result = await broken.fetch_m2ms()
    assert {name: [t.name for t in rows] for name, rows in result.items()} == {"ghosts": [], "tags": ["red"]}
    assert any("ghosts" in record.getMessage() for record in caplog.records)


async def test_get_related_after_fetch_and_stale_after_write() -> None:
    red, green = await _tags("red", "green")
    article = await RArticle.create(id=1, title="t")
    assert article.get_related("tags") == []  # nothing loaded yet
    await article.add_m2m("tags", red.id)
    loaded = await article.fetch_m2m("tags")
    assert article.get_related("tags") == loaded and article.has_related("tags")
    await article.add_m2m("tags", green.id)
    assert not article.has_related("tags")  # a write forgets the loaded list


async def test_ensure_m2m_tables_creates_missing_junctions() -> None:
    await executor.execute("test", "DROP TABLE rel_dish_ingredients", [])
    await RDish.ensure_m2m_tables()
    dish = await RDish.create(id=1, name="soup")
    salt = await RIngredient.create(id=1, name="salt")
    assert await dish.add_m2m("ingredients", salt) == 1


def test_malformed_relation_configs_fail_when_the_class_is_defined() -> None:
    from matrx_orm import ConfigurationError, IntegerField, Model

    with pytest.raises(ConfigurationError, match="missing \\['target_column'\\]"):

        class BadM2M(Model):
            id = IntegerField(primary_key=True)
            _table_name = "rel_bad_m2m"
            _database = "test_config_only"
            _many_to_many = {"tags": {"junction_table": "j", "source_column": "a", "target_model": "RTag"}}

    with pytest.raises(ConfigurationError, match="unknown keys \\['from_feild'\\]"):

        class BadIFK(Model):
            id = IntegerField(primary_key=True)
            _table_name = "rel_bad_ifk"
            _database = "test_config_only"
            _inverse_foreign_keys = {"posts": {"from_model": "RPost", "from_field": "x", "from_feild": "y"}}
