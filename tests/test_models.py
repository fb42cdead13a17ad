"""Model metaclass: tables in per-database MetaData, registry, keys, abstract bases, name collisions."""

from __future__ import annotations

from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.schema import CreateTable

from matrx_orm import (
    CharField,
    FieldError,
    ForeignKey,
    IntegerField,
    Model,
    QueryError,
    UUIDField,
    ValidationError,
)
from matrx_orm.meta import get_model, metadata_for, snake_case

pytestmark = pytest.mark.level1


def ddl(model: type[Model]) -> str:
    return str(CreateTable(model._meta.table).compile(dialect=pg_asyncpg.dialect()))


def test_snake_case() -> None:
    assert snake_case("BlogPost") == "blog_post"
    assert snake_case("HTTPLog") == "http_log"
    assert snake_case("User") == "user"


def test_table_built_in_database_metadata() -> None:
    class MetaPost(Model):
        id = UUIDField(primary_key=True)
        title = CharField(max_length=200)
        views = IntegerField(default=0, index=True)
        _database = "meta_db"

    table = metadata_for("meta_db").tables["meta_post"]
    assert table is MetaPost._meta.table
    assert MetaPost._table_name == "meta_post"
    assert MetaPost._meta.primary_keys == ["id"]
    assert MetaPost._meta.pk is MetaPost.id
    text = ddl(MetaPost)
    assert "id UUID NOT NULL" in text and "title VARCHAR(200)" in text
    assert "CONSTRAINT pk_meta_post PRIMARY KEY (id)" in text
    assert any(ix.name == "ix_meta_post_views" for ix in table.indexes)
    assert get_model("MetaPost", "meta_db") is MetaPost


def test_options_from_attributes_and_inner_meta() -> None:
    class Doc(Model):
        id = UUIDField(primary_key=True)

        class Meta:
            table_name = "documents"
            database = "meta_db"
            db_schema = "content"

    assert Doc._meta.table_name == "documents"
    assert Doc._meta.database == "meta_db"
    assert Doc._meta.qualified_table_name == "content.documents"
    assert Doc._meta.table.schema == "content"


def test_composite_primary_keys() -> None:
    class Pair(Model):
        left = IntegerField()
        right = IntegerField()
        _primary_keys = ["left", "right"]
        _database = "meta_db"

    assert Pair._meta.primary_keys == ["left", "right"]
    assert Pair._meta.pk is None
    assert 'PRIMARY KEY ("left", "right")' in ddl(Pair) or "PRIMARY KEY (left, right)" in ddl(Pair)


def test_string_foreign_key_resolves_when_target_is_defined_later() -> None:
    class LateChild(Model):
        id = UUIDField(primary_key=True)
        parent_id = ForeignKey("LateParent", "code", on_delete="set null")
        _database = "meta_db"

    class LateParent(Model):
        code = IntegerField(primary_key=True)
        _database = "meta_db"

    column = LateChild._meta.table.c.parent_id
    assert isinstance(column.type, sa.Integer)
    (fk,) = column.foreign_keys
    assert fk.column is LateParent._meta.table.c.code
    assert fk.ondelete == "SET NULL"
    assert LateChild.parent_id.target_model is LateParent
    assert LateChild._meta.relation_aliases == {"parent": "parent_id"}
    with pytest.raises(ValidationError):
        LateChild.parent_id.to_db("not-an-int")


def test_self_reference_and_cross_database_foreign_key() -> None:
    class Node(Model):
        id = IntegerField(primary_key=True)
        parent_id = ForeignKey("Node", "id", null=True)
        _database = "meta_db"

    assert next(iter(Node._meta.table.c.parent_id.foreign_keys)).column is Node._meta.table.c.id

    class Remote(Model):
        id = UUIDField(primary_key=True)
        _database = "other_db"

    class Local(Model):
        id = UUIDField(primary_key=True)
        remote_id = ForeignKey(to_model=Remote, to_column="id", to_db="other_db")
        _database = "meta_db"

    assert not Local._meta.table.c.remote_id.foreign_keys  # no constraint across databases
    assert Local.remote_id.target_model is Remote


def test_abstract_base_contributes_fields() -> None:
    class Audited(Model):
        _database = "meta_db"

        class Meta:
            abstract = True

        created_by = CharField(max_length=100)
        updated_by = CharField(max_length=100, nullable=True)

    class Article(Audited):
        id = UUIDField(primary_key=True, default=uuid4)
        title = CharField(max_length=255)

    class Note(Audited):
        _abstract = False
        id = UUIDField(primary_key=True, default=uuid4)

    assert Audited._meta is None
    assert list(Article._meta.fields) == ["created_by", "updated_by", "id", "title"]
    assert Article._meta.database == "meta_db"
    assert Article.created_by is not Note.created_by  # each concrete model owns its field objects
    assert Article.created_by.model is Article
    article = Article(title="Hello", created_by="alice")
    assert article.created_by == "alice" and isinstance(article.id, str)
    with pytest.raises(QueryError):
        Audited.filter(created_by="x")


def test_field_names_colliding_with_model_api_are_rejected() -> None:
    with pytest.raises(FieldError) as info:

        class Bad(Model):
            id = UUIDField(primary_key=True)
            save = CharField()
            _database = "meta_db"

    assert "save" in str(info.value) and "Bad" in str(info.value)


def test_redefining_a_model_replaces_its_table() -> None:
    class Again(Model):
        id = UUIDField(primary_key=True)
        _database = "meta_db"

    class Again(Model):  # type: ignore[no-redef]  # noqa: F811
        id = UUIDField(primary_key=True)
        extra = IntegerField()
        _database = "meta_db"

    assert "extra" in metadata_for("meta_db").tables["again"].c
    assert get_model("Again", "meta_db") is Again


def test_instances_are_plain_objects() -> None:
    class Plain(Model):
        id = IntegerField(primary_key=True)
        name = CharField(max_length=10, default="x")
        _database = "meta_db"

    p = Plain(id=1)
    assert p.name == "x" and p.pk == 1
    assert p == Plain(id=1) and p != Plain(id=2)
    assert Plain.name.name == "name"  # class access gives the field
    assert repr(p) == "<Plain 1>"
