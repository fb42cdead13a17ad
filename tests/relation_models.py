"""Models for the relation tests (tables prefixed ``rel_``; ``auth.users``; one model on database "test2")."""

from __future__ import annotations

from uuid import uuid4

from matrx_orm import (
    CharField,
    ForeignKey,
    IntegerField,
    ManyToManyField,
    Model,
    UUIDField,
)


class RUser(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    name = CharField(max_length=100)
    status = CharField(max_length=20, default="active")

    _table_name = "rel_user"
    _database = "test"
    _inverse_foreign_keys = {
        "posts": {"from_model": "RPost", "from_field": "author_id", "referenced_field": "id"},
    }


class RPost(Model):
    id = IntegerField(primary_key=True)
    title = CharField(max_length=200)
    status = CharField(max_length=20, default="draft")  # same column name as rel_user.status
    author_id = ForeignKey("RUser", "id")
    reviewer_id = ForeignKey("RUser", "id", null=True)

    _table_name = "rel_post"
    _database = "test"
    _many_to_many = {
        "labels": {
            "junction_table": "rel_post_label",
            "source_column": "post_id",
            "target_column": "label_id",
            "target_model": "RLabel",
        }
    }


class RComment(Model):
    id = IntegerField(primary_key=True)
    body = CharField(max_length=200)
    post_id = ForeignKey("RPost", "id", related_name="comments")

    _table_name = "rel_comment"
    _database = "test"


class RLabel(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=50)

    _table_name = "rel_label"
    _database = "test"


class AuthUser(Model):
    """Supabase's ``auth.users``: another schema of the same database."""

    id = UUIDField(primary_key=True, default=uuid4)
    email = CharField(max_length=255)

    _table_name = "users"
    _db_schema = "auth"
    _database = "test"


class Recipe(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=100)
    user_id = ForeignKey(to_model=AuthUser, to_column="id", to_schema="auth")

    _table_name = "rel_recipe"
    _database = "test"


class AnalyticsUser(Model):
    """Lives in the second database ("test2")."""

    id = UUIDField(primary_key=True, default=uuid4)
    name = CharField(max_length=100)

    _table_name = "rel_analytics_user"
    _database = "test2"


class ROrder(Model):
    id = IntegerField(primary_key=True)
    analytics_user_id = ForeignKey(to_model=AnalyticsUser, to_column="id", to_db="test2", null=True)

    _table_name = "rel_order"
    _database = "test"


class LockedUser(Model):
    """Never queried (``_unfetchable``): its table does not even exist."""

    id = UUIDField(primary_key=True)

    _table_name = "rel_locked_user"
    _unfetchable = True
    _database = "test"


class Missing(Model):
    """A model whose table is never created: fetching it fails."""

    id = IntegerField(primary_key=True)

    _table_name = "rel_missing"
    _database = "test"


class RTicket(Model):
    """Its table is created by hand (no constraints): the FK to ``Missing`` points at a table that is absent."""

    id = IntegerField(primary_key=True)
    owner_id = ForeignKey("RUser", "id", null=True)
    locked_id = ForeignKey("LockedUser", "id", null=True)
    missing_id = ForeignKey("Missing", "id", null=True)

    _table_name = "rel_ticket"
    _database = "test"


class RTag(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=50)

    _table_name = "rel_tag"
    _database = "test"


class RArticle(Model):
    id = IntegerField(primary_key=True)
    title = CharField(max_length=100)
    tags = ManyToManyField("RTag", related_name="articles")  # junction rel_article_rel_tag

    _table_name = "rel_article"
    _database = "test"


class RIngredient(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=50)

    _table_name = "rel_ingredient"
    _database = "test"


class RDish(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=100)
    ingredients = ManyToManyField("RIngredient", db_table="rel_dish_ingredients")

    _table_name = "rel_dish"
    _database = "test"


class RPerson(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=50)
    friends = ManyToManyField("RPerson")

    _table_name = "rel_person"
    _database = "test"


class RBroken(Model):
    """One working M2M and one whose (config) junction table does not exist."""

    id = IntegerField(primary_key=True)
    tags = ManyToManyField("RTag", db_table="rel_broken_tags")

    _table_name = "rel_broken"
    _database = "test"
    _many_to_many = {
        "ghosts": {
            "junction_table": "rel_no_such_junction",
            "source_column": "broken_id",
            "target_column": "tag_id",
            "target_model": "RTag",
        }
    }


MAIN = [
    RUser,
    RPost,
    RComment,
    RLabel,
    AuthUser,
    Recipe,
    ROrder,
    RTag,
    RArticle,
    RIngredient,
    RDish,
    RPerson,
    RBroken,
]


_TABLES = [
    "rel_user",
    "rel_post",
    "rel_comment",
    "rel_label",
    "rel_post_label",
    "rel_recipe",
    "rel_order",
    "rel_tag",
    "rel_article",
    "rel_article_rel_tag",
    "rel_ingredient",
    "rel_dish",
    "rel_dish_ingredients",
    "rel_person",
    "rel_person_rel_person",
    "rel_broken",
    "rel_broken_tags",
    "rel_ticket",
]
_dropped_auth_users = False


async def reset_tables(db: str) -> None:
    """Create the relation tables (once) and empty them."""
    global _dropped_auth_users
    from matrx_orm import create_all
    from matrx_orm.db import executor

    if not _dropped_auth_users:  # auth.users may exist with another shape from an earlier run
        await executor.execute(db, "CREATE SCHEMA IF NOT EXISTS auth", [])
        await executor.execute(db, "DROP TABLE IF EXISTS auth.users CASCADE", [])
        _dropped_auth_users = True
    await create_all(db, models=MAIN)
    await executor.execute(
        db,
        "CREATE TABLE IF NOT EXISTS rel_post_label (id serial PRIMARY KEY, post_id int NOT NULL, label_id int NOT NULL)",
        [],
    )
    await executor.execute(
        db,
        "CREATE TABLE IF NOT EXISTS rel_ticket (id int PRIMARY KEY, owner_id uuid, locked_id uuid, missing_id int)",
        [],
    )
    quoted = ", ".join(f'"{name}"' for name in _TABLES)
    await executor.execute(db, f"TRUNCATE {quoted}, auth.users CASCADE", [])
