"""Migrations on Alembic, through the async API, against a fresh real PostgreSQL database per test."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest
from migrations_support import FreshDB, fresh_db  # noqa: F401  (fixture)

from matrx_orm import (
    BooleanField,
    CharField,
    ConfigurationError,
    DateTimeField,
    ForeignKey,
    HalfVectorField,
    IndexDef,
    IntegerField,
    JSONBField,
    MigrationError,
    Model,
    ParameterError,
    TextArrayField,
    TextField,
    UUIDField,
    VectorField,
)
from matrx_orm.migrations import (
    MigrationDB,
    SchemaDiff,
    TableFilter,
    TableFilterError,
    create_empty,
    dbcheck,
    make_revision,
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


def simple_model(database: str, table: str, class_name: str, **fields: Any) -> type[Model]:
    attrs: dict[str, Any] = {
        "_database": database,
        "_table_name": table,
        "id": IntegerField(primary_key=True),
    }
    attrs.update(fields)
    return type(class_name, (Model,), {"__module__": __name__, **attrs})


async def test_vector_column_and_hnsw_index_round_trip(
    fresh_db: FreshDB,  # noqa: F811
    tmp_path: Path,
    needs_pgvector: None,
) -> None:
    folder = tmp_path / "migrations"
    assert await fresh_db.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == 0
    simple_model(
        fresh_db.name,
        "mg_doc",
        "MgDoc",
        embedding=VectorField(dimensions=3),
        half=HalfVectorField(dimensions=4),
        _indexes=[
            IndexDef(
                name="mg_doc_embedding_hnsw_idx",
                columns=["embedding"],
                method="hnsw",
                vector_ops="vector_cosine_ops",
                index_params={"m": 16, "ef_construction": 64},
            )
        ],
    )
    path = await makemigrations(fresh_db.name, folder)
    assert path is not None
    text = path.read_text()
    assert (
        "from pgvector.sqlalchemy import VECTOR" in text and "from pgvector.sqlalchemy import HALFVEC" in text
    )
    assert "sa.Column('embedding', VECTOR(dim=3)" in text and "sa.Column('half', HALFVEC(dim=4)" in text
    assert text.index("CREATE EXTENSION IF NOT EXISTS vector") < text.index("op.create_table('mg_doc'")
    assert "postgresql_using='hnsw'" in text and "postgresql_ops={'embedding': 'vector_cosine_ops'}" in text

    assert await migrate(fresh_db.name, folder) == [path.stem]
    assert await fresh_db.columns("mg_doc") == {
        "id": "integer",
        "embedding": "vector(3)",
        "half": "halfvec(4)",
    }
    indexdef = await fresh_db.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'mg_doc_embedding_hnsw_idx'"
    )
    assert "USING hnsw (embedding vector_cosine_ops)" in indexdef
    assert "m='16'" in indexdef and "ef_construction='64'" in indexdef
    # unchanged models: nothing re-detected (types, index, operator class, WITH parameters)
    assert await makemigrations(fresh_db.name, folder) is None
    assert (await dbcheck(fresh_db.name)).in_sync


def tuned_model(
    database: str, *, off_default: bool = False, lists: int = 10, m: int = 16, ivf_ops: str = "vector_l2_ops"
) -> type[Model]:
    """Server defaults, JSONB, an array, and pgvector IVFFlat + HNSW indexes with WITH parameters."""
    return simple_model(
        database,
        "mg_tuned",
        "MgTuned",
        uid=UUIDField(server_default="gen_random_uuid()", null=False),
        created_at=DateTimeField(server_default="now()"),
        on=BooleanField(server_default=True),
        off=BooleanField(server_default=off_default),
        status=CharField(max_length=20, server_default="'draft'"),
        data=JSONBField(server_default="'{}'::jsonb"),
        tags=TextArrayField(null=True),
        embedding=VectorField(dimensions=3, null=True),
        _indexes=[
            IndexDef(
                name="mg_tuned_ivf_idx",
                columns=["embedding"],
                method="ivfflat",
                vector_ops=ivf_ops,
                index_params={"lists": lists},
            ),
            IndexDef(
                name="mg_tuned_hnsw_idx",
                columns=["embedding"],
                method="hnsw",
                vector_ops="vector_cosine_ops",
                index_params={"m": m},
            ),
        ],
    )


async def test_server_defaults_and_tuned_indexes_compared(
    fresh_db: FreshDB,  # noqa: F811
    tmp_path: Path,
    needs_pgvector: None,
) -> None:
    folder = tmp_path / "migrations"
    tuned_model(fresh_db.name)
    path = await makemigrations(fresh_db.name, folder)
    assert path is not None
    text = path.read_text()
    for rendered in (
        "server_default=sa.text('gen_random_uuid()')",
        "server_default=sa.text('now()')",
        "server_default=sa.text('true')",
        "server_default=sa.text('false')",
        "sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text(\"'{}'::jsonb\")",
        "sa.Column('tags', postgresql.ARRAY(sa.Text())",
        "postgresql_using='ivfflat', postgresql_with={'lists': 10}, postgresql_ops={'embedding': 'vector_l2_ops'}",
    ):
        assert rendered in text, rendered
    assert "from sqlalchemy.dialects import postgresql" in text
    await migrate(fresh_db.name, folder)
    rows = await fresh_db.fetch(
        "SELECT column_name, column_default FROM information_schema.columns WHERE table_name = 'mg_tuned'"
    )
    defaults = {r["column_name"]: r["column_default"] for r in rows}
    assert defaults["uid"] == "gen_random_uuid()" and defaults["created_at"] == "now()"
    assert defaults["on"] == "true" and defaults["off"] == "false"
    # nothing re-detected: defaults, JSONB, arrays, both vector indexes (method, opclass, WITH)
    assert await makemigrations(fresh_db.name, folder) is None
    assert (await dbcheck(fresh_db.name)).in_sync

    # a changed default and changed index parameters are detected, rebuilt, and rolled back
    tuned_model(fresh_db.name, off_default=True, lists=20, m=24)
    check = await dbcheck(fresh_db.name)
    assert sorted(check.differences) == [
        "add_index mg_tuned_hnsw_idx on mg_tuned",
        "add_index mg_tuned_ivf_idx on mg_tuned",
        "modify_default mg_tuned.off: false -> true",
        "remove_index mg_tuned_hnsw_idx on mg_tuned",
        "remove_index mg_tuned_ivf_idx on mg_tuned",
    ]
    second = await makemigrations(fresh_db.name, folder, name="tune")
    assert second is not None
    up, down = second.read_text().split("def downgrade")
    assert "postgresql_with={'lists': 20}" in up and "postgresql_with={'m': 24}" in up
    assert "op.drop_index('mg_tuned_ivf_idx'" in up and "server_default=sa.text('true')" in up
    assert "postgresql_with={'lists': '10'}" in down  # the downgrade recreates the index as it was
    await migrate(fresh_db.name, folder)
    ivf = "SELECT indexdef FROM pg_indexes WHERE indexname = 'mg_tuned_ivf_idx'"
    assert "lists='20'" in await fresh_db.fetchval(ivf)
    hnsw = "SELECT indexdef FROM pg_indexes WHERE indexname = 'mg_tuned_hnsw_idx'"
    assert "vector_cosine_ops" in await fresh_db.fetchval(hnsw) and "m='24'" in await fresh_db.fetchval(hnsw)
    assert await makemigrations(fresh_db.name, folder) is None

    # another operator class is a difference too (another method as well: hnsw -> ivfflat above)
    tuned_model(fresh_db.name, off_default=True, lists=20, m=24, ivf_ops="vector_ip_ops")
    check = await dbcheck(fresh_db.name)
    assert check.differences == [
        "remove_index mg_tuned_ivf_idx on mg_tuned",
        "add_index mg_tuned_ivf_idx on mg_tuned",
    ]
    tuned_model(fresh_db.name, off_default=True, lists=20, m=24)
    await rollback(fresh_db.name, folder)
    assert "lists='10'" in await fresh_db.fetchval(ivf)
    assert "m='16'" in await fresh_db.fetchval(hnsw)
    assert (
        await fresh_db.fetchval(
            "SELECT column_default FROM information_schema.columns WHERE table_name = 'mg_tuned' AND column_name = 'off'"
        )
        == "false"
    )


async def test_models_in_another_schema(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    simple_model(fresh_db.name, "mg_entry", "MgEntry", _db_schema="mg_blog", title=CharField(max_length=50))
    path = await makemigrations(fresh_db.name, folder)
    assert path is not None
    text = path.read_text()
    assert "op.execute('CREATE SCHEMA IF NOT EXISTS mg_blog')" in text
    assert "schema='mg_blog'" in text
    await migrate(fresh_db.name, folder)
    assert await fresh_db.tables("mg_blog") == {"mg_entry"}
    assert await makemigrations(fresh_db.name, folder) is None
    await rollback(fresh_db.name, folder)
    assert await fresh_db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'mg_blog'") == 0


async def test_scoped_makemigrations_and_cross_scope_warning(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    define_models(fresh_db.name)  # mg_author, mg_post (post.author_id -> mg_author)
    simple_model(fresh_db.name, "mg_tag", "MgTag", label=CharField(max_length=20))

    with pytest.warns(
        UserWarning, match=r"Cross-scope FK detected: 'mg_post\.author_id' references 'mg_author'"
    ):
        result = await make_revision(fresh_db.name, tmp_path / "inc", include_tables={"mg_post", "mg_tag"})
    assert result.cross_scope_references == [("mg_post.author_id", "mg_author")]
    assert result.path is not None
    text = result.path.read_text()
    assert "op.create_table('mg_post'" in text and "op.create_table('mg_tag'" in text
    assert "op.create_table('mg_author'" not in text
    assert "['mg_author.id']" in text  # the FK constraint is still generated

    with pytest.warns(UserWarning, match="Cross-scope FK detected: 'mg_post.author_id'"):
        path = await makemigrations(fresh_db.name, tmp_path / "exc", exclude_tables=["mg_author"])
    assert path is not None and "op.create_table('mg_author'" not in path.read_text()

    # excluding the referencing table instead: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = await makemigrations(fresh_db.name, tmp_path / "exc2", exclude_tables=["mg_post"])
    assert path is not None
    assert "op.create_table('mg_author'" in path.read_text() and "'mg_post'" not in path.read_text()

    # SchemaDiff + TableFilter + MigrationDB (matrx-orm's spelling)
    diff = SchemaDiff(
        MigrationDB(fresh_db.name), schema="public", table_filter=TableFilter(include={"mg_tag"})
    )
    path = await diff.generate_migration_file(tmp_path / "diff")
    assert path is not None and "op.create_table('mg_tag'" in path.read_text()
    assert "mg_author" not in path.read_text()
    assert [d for d in (await diff.differences()).differences] == ["add_table mg_tag"]


async def test_include_and_exclude_are_mutually_exclusive(tmp_path: Path) -> None:
    with pytest.raises(TableFilterError, match="not both") as caught:
        TableFilter(include={"a"}, exclude={"b"})
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ConfigurationError)
    with pytest.raises(ConfigurationError, match="mutually exclusive"):
        await makemigrations("anything", tmp_path, include_tables={"a"}, exclude_tables={"b"})
    assert not tmp_path.joinpath("versions").exists()  # rejected before anything was written
    assert TableFilter(include=["user"]).allows("user") and not TableFilter(include=["user"]).allows("post")
    assert TableFilter(exclude=["blog.post"]).allows("post") and not TableFilter(
        exclude=["blog.post"]
    ).allows("post", "blog")


async def test_unmanaged_tables_are_reported_not_dropped(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    await fresh_db.execute("CREATE TABLE mg_legacy (id int PRIMARY KEY)")
    simple_model(fresh_db.name, "mg_kept", "MgKept")
    with pytest.warns(UserWarning, match=r"no DROP TABLE generated\): mg_legacy"):
        result = await make_revision(fresh_db.name, tmp_path / "m")
    assert result.unmanaged_tables == ["mg_legacy"]
    assert result.path is not None and "drop_table" not in result.path.read_text().split("def downgrade")[0]
    await migrate(fresh_db.name, tmp_path / "m")
    assert "mg_legacy" in await fresh_db.tables()

    # out of scope: not even reported
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert await makemigrations(fresh_db.name, tmp_path / "m", exclude_tables={"mg_legacy"}) is None

    result = await make_revision(fresh_db.name, tmp_path / "m", allow_drops=True)
    assert result.dropped_tables == ["mg_legacy"] and result.unmanaged_tables == []
    assert result.path is not None and "op.drop_table('mg_legacy')" in result.path.read_text()
    await migrate(fresh_db.name, tmp_path / "m")
    assert "mg_legacy" not in await fresh_db.tables()


async def test_modified_applied_file_is_flagged_and_refused(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    simple_model(fresh_db.name, "mg_item", "MgItem")
    first = await makemigrations(fresh_db.name, folder)
    assert first is not None
    await migrate(fresh_db.name, folder)
    second = await create_empty(fresh_db.name, folder, name="noop")
    assert second.name == "0002_noop.py"

    first.write_text(first.read_text() + "\n# edited after it ran\n")
    state = await migration_status(fresh_db.name, folder)
    assert state.modified == ["0001_initial"] and state.pending == ["0002_noop"]
    assert state.as_dict() == {"0001_initial": "modified", "0002_noop": "pending"}
    with pytest.raises(MigrationError, match="0001_initial.py") as caught:
        await migrate(fresh_db.name, folder)
    assert "--allow-modified" in str(caught.value)
    assert (await migration_status(fresh_db.name, folder)).pending == ["0002_noop"]  # nothing ran

    assert await migrate(fresh_db.name, folder, allow_modified=True) == ["0002_noop"]


async def test_failing_revision_leaves_no_partial_change(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    good = await create_empty(fresh_db.name, folder, name="good")
    good.write_text(
        good.read_text().replace(
            "def upgrade() -> None:\n    pass",
            "def upgrade() -> None:\n    op.execute('CREATE TABLE mg_good (id int)')",
        )
    )
    bad = await create_empty(fresh_db.name, folder, name="bad")
    bad.write_text(
        bad.read_text().replace(
            "def upgrade() -> None:\n    pass",
            "def upgrade() -> None:\n"
            "    op.create_table('mg_half', sa.Column('id', sa.Integer(), primary_key=True))\n"
            "    op.execute('SELECT 1 / 0')",
        )
    )
    with pytest.raises(
        MigrationError, match=r"revision 0002_bad failed and was rolled back: .*division by zero"
    ) as caught:
        await migrate(fresh_db.name, folder)
    assert "completed before it: 0001_good" in str(caught.value)
    tables = await fresh_db.tables()
    assert "mg_good" in tables and "mg_half" not in tables
    assert await fresh_db.fetchval("SELECT version_num FROM alembic_version") == "0001"
    rows = await fresh_db.fetch("SELECT name FROM _matrx_migrations")
    assert [r["name"] for r in rows] == ["0001_good"]


async def test_concurrent_migrate_applies_once(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    simple_model(fresh_db.name, "mg_once", "MgOnce")
    await makemigrations(fresh_db.name, folder)
    results = await asyncio.gather(migrate(fresh_db.name, folder), migrate(fresh_db.name, folder))
    assert sorted(results, key=len) == [[], ["0001_initial"]]
    assert await fresh_db.fetchval("SELECT count(*) FROM _matrx_migrations") == 1


async def test_sql_first_revision_with_create_empty(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    path = await create_empty(fresh_db.name, folder, name="custom_ddl")
    assert path.name == "0001_custom_ddl.py"
    text = path.read_text()
    assert (
        "def upgrade() -> None:\n    pass" in text
        and "down_revision: str | Sequence[str] | None = None" in text
    )
    path.write_text(
        text.replace(
            "def upgrade() -> None:\n    pass",
            "def upgrade() -> None:\n    op.execute(\"CREATE TABLE mg_sql (id int, label text DEFAULT 'x')\")",
        ).replace(
            "def downgrade() -> None:\n    pass",
            "def downgrade() -> None:\n    op.execute('DROP TABLE mg_sql')",
        )
    )
    assert await migrate(fresh_db.name, folder) == ["0001_custom_ddl"]
    assert await fresh_db.columns("mg_sql") == {"id": "integer", "label": "text"}
    assert await rollback(fresh_db.name, folder, steps=1) == ["0001_custom_ddl"]
    assert "mg_sql" not in await fresh_db.tables()
    assert await rollback(fresh_db.name, folder) == []
    with pytest.raises(ParameterError):
        await rollback(fresh_db.name, folder, steps=0)


async def test_migration_db_standalone(fresh_db: FreshDB) -> None:  # noqa: F811
    db = MigrationDB(fresh_db.name)
    await db.execute("CREATE TABLE mg_raw (id int PRIMARY KEY, label text)")
    await db.execute_many(
        [("INSERT INTO mg_raw VALUES ($1, $2)", (1, "a")), "INSERT INTO mg_raw VALUES (2, 'b')"]
    )
    assert await db.fetch("SELECT * FROM mg_raw ORDER BY id") == [
        {"id": 1, "label": "a"},
        {"id": 2, "label": "b"},
    ]
    assert await db.fetch_one("SELECT label FROM mg_raw WHERE id = $1", 2) == {"label": "b"}
    assert await db.fetch_val("SELECT count(*) FROM mg_raw") == 2
    assert await db.fetch_one("SELECT 1 FROM mg_raw WHERE id = 99") is None


async def test_unknown_database_and_missing_folder(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(ConfigurationError, match="'nope_db' is not registered"):
        await migrate("nope_db", tmp_path)
    with pytest.raises(MigrationError, match="is not a migrations folder"):
        await migrate(fresh_db.name, tmp_path / "empty")


def test_contract_import_paths() -> None:
    import matrx_orm
    import matrx_orm.migrations as migrations_module
    from matrx_orm import SchemaDiff as TopSchemaDiff
    from matrx_orm import TableFilter as TopTableFilter
    from matrx_orm import makemigrations as top_makemigrations
    from matrx_orm import migrate_and_rebuild as top_rebuild
    from matrx_orm import migration_status as top_status

    assert top_makemigrations is makemigrations and top_status is migration_status
    assert TopSchemaDiff is SchemaDiff and TopTableFilter is TableFilter
    assert top_rebuild is migrations_module.migrate_and_rebuild
    assert migrations_module.status is migration_status
    assert migrations_module.IndexDef is IndexDef
    for name in ("makemigrations", "migrate", "rollback", "migration_status", "create_empty", "TableFilter"):
        assert name in matrx_orm.__all__
    with pytest.raises(AttributeError):
        matrx_orm.no_such_name  # noqa: B018


async def test_migrate_waits_for_the_advisory_lock(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    import asyncpg

    from matrx_orm.migrations.lock import lock_key

    folder = tmp_path / "migrations"
    simple_model(fresh_db.name, "mg_locked", "MgLocked")
    await makemigrations(fresh_db.name, folder)
    holder = await asyncpg.connect(fresh_db.url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", lock_key())
        task = asyncio.create_task(migrate(fresh_db.name, folder))
        await asyncio.sleep(0.5)
        assert not task.done()
        assert "mg_locked" not in await fresh_db.tables()
        await holder.execute("SELECT pg_advisory_unlock($1)", lock_key())
        assert await asyncio.wait_for(task, 30) == ["0001_initial"]
    finally:
        await holder.close()
    assert "mg_locked" in await fresh_db.tables()
    # the lock is released afterwards
    assert await fresh_db.advisory_locks() == 0


LEGACY_0001 = '''"""Create the legacy widget table."""

dependencies = []


async def up(db):
    await db.execute("CREATE TABLE mg_lw (id int PRIMARY KEY); CREATE INDEX mg_lw_idx ON mg_lw (id)")


async def down(db):
    await db.execute("DROP TABLE mg_lw")
'''

LEGACY_0002 = '''"""Add a legacy part table."""

dependencies = ["0001"]


async def up(db):
    await db.execute("CREATE TABLE mg_lp (id int PRIMARY KEY, widget_id int REFERENCES mg_lw (id))")
    await db.execute("INSERT INTO mg_lw VALUES ($1)", 7)
    assert await db.fetch_val("SELECT count(*) FROM mg_lw") == 1
    await db.execute_many(["INSERT INTO mg_lp VALUES (1, 7)", ("INSERT INTO mg_lp VALUES ($1, $2)", (2, 7))])


async def down(db):
    await db.execute("DROP TABLE mg_lp")
    await db.execute("DELETE FROM mg_lw WHERE id = $1", 7)
'''


async def test_legacy_folder_is_converted_and_applied_ones_are_not_rerun(
    fresh_db: FreshDB,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from matrx_orm.migrations import convert_legacy

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_initial.py").write_text(LEGACY_0001)
    (folder / "0002_parts.py").write_text(LEGACY_0002)
    # the state an old matrx-orm left: 0001 applied and recorded in its own _matrx_migrations table
    await fresh_db.execute(
        "CREATE TABLE _matrx_migrations (id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE, "
        "applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), checksum VARCHAR(64) NOT NULL);"
        "CREATE TABLE mg_lw (id int PRIMARY KEY);"
        "INSERT INTO _matrx_migrations (name, checksum) VALUES ('0001_initial', 'old-checksum')"
    )

    assert await convert_legacy(fresh_db.name, folder) == ["0001_initial", "0002_parts"]
    state = await migration_status(fresh_db.name, folder)
    assert state.applied == ["0001_initial"] and state.pending == ["0002_parts"] and state.modified == []
    # 0001 is not re-run (its CREATE TABLE would fail on the existing table); 0002 runs through MigrationDB
    assert await migrate(fresh_db.name, folder) == ["0002_parts"]
    assert await fresh_db.fetchval("SELECT count(*) FROM mg_lp WHERE widget_id = 7") == 2
    assert await rollback(fresh_db.name, folder) == ["0002_parts"]
    assert "mg_lp" not in await fresh_db.tables()
    assert await fresh_db.fetchval("SELECT count(*) FROM mg_lw") == 0
    # once only (through the CLI, in this process: the database is registered here already)
    from matrx_orm.cli import main

    assert await asyncio.to_thread(main, ["convert_legacy", "-d", fresh_db.name, "--dir", str(folder)]) == 0
    assert capsys.readouterr().out == "No legacy migrations to convert.\n"
    # new revisions continue the numbering
    assert (await create_empty(fresh_db.name, folder, name="next")).name == "0003_next.py"
    # a fresh database runs the whole converted chain, multi-statement SQL included
    assert await rollback(fresh_db.name, folder, steps=5) == ["0001_initial"]
    assert await migrate(fresh_db.name, folder) == ["0001_initial", "0002_parts", "0003_next"]
    assert await fresh_db.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = 'mg_lw_idx'") == 1
