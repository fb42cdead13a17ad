"""Migrations on Alembic, through the async API, against a fresh real PostgreSQL database per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrations_support import FreshDB, fresh_db  # noqa: F401  (fixture)

from matrx_orm import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKey,
    IntegerField,
    Model,
    TextField,
    UUIDField,
)
from matrx_orm.migrations import (
    dbcheck,
    makemigrations,
    migrate,
    migration_status,
    rollback,
)


def define_models(database: str, *, with_body: bool = False) -> dict[str, type[Model]]:
    """An author/post pair registered on ``database`` (redefining replaces the earlier tables)."""
    attrs: dict[str, Any] = {
        "_database": database,
        "_table_name": "mg_author",
        "id": UUIDField(primary_key=True, default="gen_random_uuid()"),
        "name": CharField(max_length=100, null=False),
        "active": BooleanField(default=True, server_default=True),
        "created_at": DateTimeField(server_default="now()"),
    }
    author = type("MgAuthor", (Model,), {"__module__": __name__, **attrs})
    post_attrs: dict[str, Any] = {
        "_database": database,
        "_table_name": "mg_post",
        "id": IntegerField(primary_key=True),
        "title": CharField(max_length=200, null=False),
        "author_id": ForeignKey(to_model=author, to_column="id"),
    }
    if with_body:
        post_attrs["body"] = TextField(null=True)
    post = type("MgPost", (Model,), {"__module__": __name__, **post_attrs})
    return {"author": author, "post": post}


def revision_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "versions").glob("*.py"))


async def test_model_first_cycle(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    define_models(fresh_db.name)

    path = await makemigrations(fresh_db.name, folder)
    assert path is not None and path.name == "0001_initial.py"
    assert (folder / "env.py").is_file() and (folder / "alembic.ini").is_file()
    text = path.read_text()
    assert "op.create_table('mg_author'" in text and "op.create_table('mg_post'" in text
    assert "server_default=sa.text('now()')" in text
    assert await fresh_db.tables() == set()  # makemigrations does not apply anything

    applied = await migrate(fresh_db.name, folder)
    assert applied == ["0001_initial"]
    assert {"mg_author", "mg_post", "alembic_version", "_matrx_migrations"} <= await fresh_db.tables()
    rows = await fresh_db.fetch("SELECT name, checksum FROM _matrx_migrations")
    assert [r["name"] for r in rows] == ["0001_initial"]
    import hashlib

    assert rows[0]["checksum"] == hashlib.sha256(path.read_bytes()).hexdigest()
    fk = await fresh_db.fetchval(
        "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = 'mg_post'::regclass"
    )
    assert fk == "fk_mg_post_author_id_mg_author"  # the naming convention

    # the models work against the migrated tables
    models = define_models(fresh_db.name, with_body=False)
    author = await models["author"].create(name="Ann")
    assert author.active is True

    # change the model -> a second revision adding the column
    define_models(fresh_db.name, with_body=True)
    second = await makemigrations(fresh_db.name, folder, name="add post body")
    assert second is not None and second.name == "0002_add_post_body.py"
    second_text = second.read_text()
    assert "op.add_column('mg_post', sa.Column('body', sa.Text()" in second_text
    assert "down_revision: str | Sequence[str] | None = '0001'" in second_text
    assert await migrate(fresh_db.name, folder) == ["0002_add_post_body"]
    assert "body" in await fresh_db.columns("mg_post")

    state = await migration_status(fresh_db.name, folder)
    assert state.applied == ["0001_initial", "0002_add_post_body"] and state.pending == []

    assert await rollback(fresh_db.name, folder) == ["0002_add_post_body"]
    assert "body" not in await fresh_db.columns("mg_post")
    state = await migration_status(fresh_db.name, folder)
    assert state.applied == ["0001_initial"] and state.pending == ["0002_add_post_body"]
    assert [r["name"] for r in await fresh_db.fetch("SELECT name FROM _matrx_migrations")] == ["0001_initial"]

    assert await migrate(fresh_db.name, folder) == ["0002_add_post_body"]
    assert await migrate(fresh_db.name, folder) == []  # nothing pending
    assert await makemigrations(fresh_db.name, folder) is None  # no change: no file
    assert revision_files(folder) == ["0001_initial.py", "0002_add_post_body.py"]
    check = await dbcheck(fresh_db.name)
    assert check.in_sync, check.differences

    # rolling back more steps than applied rolls back everything
    assert await rollback(fresh_db.name, folder, steps=5) == ["0002_add_post_body", "0001_initial"]
    assert await fresh_db.tables() == {"alembic_version", "_matrx_migrations"}
