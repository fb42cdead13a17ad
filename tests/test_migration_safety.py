"""Revisions that are safe on a live database: NOT NULL columns added to tables with rows, renames that keep
the data, concurrent index builds, the migration lock behind a transaction pooler. Real PostgreSQL, one fresh
database per test."""

from __future__ import annotations

import asyncio
import datetime
import uuid
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from migrations_support import FreshDB, fresh_db  # noqa: F401  (fixture)

from matrx_orm import (
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProjectConfig,
    DateTimeField,
    DecimalField,
    IndexDef,
    IntegerField,
    JSONBField,
    MigrationError,
    Model,
    TextField,
    UUIDField,
    register_database,
)
from matrx_orm.db.engine import engine_connection
from matrx_orm.meta.registry import metadata_for
from matrx_orm.migrations import (
    create_empty,
    dbcheck,
    lint_migrations,
    make_revision,
    makemigrations,
    migrate,
    rollback,
)
from matrx_orm.migrations.lock import lock_key, transaction_lock


def model(database: str, table: str, **fields: Any) -> type[Model]:
    """A model of ``table`` on ``database`` (defining it again replaces the earlier one)."""
    attrs: dict[str, Any] = {
        "_database": database,
        "_table_name": table,
        "id": IntegerField(primary_key=True),
    }
    name = "".join(part.title() for part in table.split("_"))
    return type(name, (Model,), {"__module__": __name__, **attrs, **fields})


def body(revision: Path, upgrade: str, downgrade: str = "pass") -> None:
    """Fill in the ``upgrade()`` (and ``downgrade()``) of a revision written by create_empty."""
    text = revision.read_text()
    text = text.replace("def upgrade() -> None:\n    pass", f"def upgrade() -> None:\n    {upgrade}")
    text = text.replace("def downgrade() -> None:\n    pass", f"def downgrade() -> None:\n    {downgrade}")
    revision.write_text(text)


def versions(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "versions").glob("*.py"))


async def column_facts(db: FreshDB, table: str) -> dict[str, tuple[str, str | None]]:
    rows = await db.fetch(
        "SELECT column_name, is_nullable, column_default FROM information_schema.columns WHERE table_name = $1",
        table,
    )
    return {r["column_name"]: (r["is_nullable"], r["column_default"]) for r in rows}


# -- NOT NULL columns with a Python default ----------------------------------------------------------------------


async def test_not_null_columns_with_defaults_are_added_to_a_table_with_rows(
    fresh_db: FreshDB,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "migrations"
    model(fresh_db.name, "sf_post", title=CharField(max_length=100))
    await makemigrations(fresh_db.name, folder)
    await migrate(fresh_db.name, folder)
    await fresh_db.execute("INSERT INTO sf_post (id, title) VALUES (1, 'a'), (2, 'b'), (3, 'c')")

    model(
        fresh_db.name,
        "sf_post",
        title=CharField(max_length=100),
        likes=IntegerField(null=False, default=0),
        status=CharField(max_length=10, null=False, default="draft"),
        meta=JSONBField(null=False, default=dict),
        published=BooleanField(null=False, default=False),
        rank=DecimalField(max_digits=6, decimal_places=2, null=False, default=Decimal("1.50")),
        seen_at=DateTimeField(null=False, default=datetime.datetime.now),
        token=UUIDField(null=False, default=uuid.uuid4),
    )
    result = await make_revision(fresh_db.name, folder, "post_counters")
    assert result.path is not None and result.notes == []
    text = result.path.read_text()
    assert "sa.Column('likes', sa.Integer(), server_default=sa.text('0'), nullable=False)" in text
    assert "server_default=sa.text(\"'draft'\")" in text and "server_default=sa.text(\"'{}'\")" in text
    assert "server_default=sa.text('now()')" in text
    assert text.count("server_default=None") == 6  # each literal default is dropped again at once
    assert "op.execute('UPDATE sf_post SET token=gen_random_uuid() WHERE sf_post.token IS NULL')" in text

    assert await migrate(fresh_db.name, folder) == ["0002_post_counters"]
    rows = await fresh_db.fetch("SELECT * FROM sf_post ORDER BY id")
    assert [(r["likes"], r["status"], r["meta"], r["published"], r["rank"]) for r in rows] == [
        (0, "draft", "{}", False, Decimal("1.50"))
    ] * 3
    assert all(r["seen_at"] is not None for r in rows)
    assert len({r["token"] for r in rows}) == 3 and None not in {r["token"] for r in rows}
    facts = await column_facts(fresh_db, "sf_post")
    added = ("likes", "status", "meta", "published", "rank", "seen_at", "token")
    assert {name: facts[name] for name in added} == {name: ("NO", None) for name in added}
    assert (await dbcheck(fresh_db.name)).in_sync
    assert lint_migrations(folder, ["0002"], database=fresh_db.name).ok

    assert await rollback(fresh_db.name, folder) == ["0002_post_counters"]
    assert set(await column_facts(fresh_db, "sf_post")) == {"id", "title"}


async def test_callable_default_stops_makemigrations_and_no_default_warns(
    fresh_db: FreshDB,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "migrations"
    model(fresh_db.name, "sf_page", title=CharField(max_length=100))
    await makemigrations(fresh_db.name, folder)
    await migrate(fresh_db.name, folder)

    model(fresh_db.name, "sf_page", slug=CharField(max_length=20, null=False, default=lambda: "x"))
    with pytest.raises(MigrationError) as raised:
        await makemigrations(fresh_db.name, folder)
    message = raised.value.message
    assert message.startswith("cannot add the NOT NULL column sf_page.slug to the existing table sf_page")
    assert "server_default=" in message and "1) declare slug with null=True" in message
    assert "2) set null=False and run makemigrations again" in message
    assert versions(folder) == ["0001_initial.py"]

    model(fresh_db.name, "sf_page", title=CharField(max_length=100), body=TextField(null=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = await make_revision(fresh_db.name, folder)
    assert result.path is not None
    assert result.notes == [
        "sf_page.body is added NOT NULL with no default: the revision fails if sf_page has rows. Give the field "
        "a default= or server_default=, or add it with null=True first."
    ]
    assert any(result.notes[0] in str(w.message) for w in caught)
    assert [f.rule for f in lint_migrations(folder, [str(result.path)]).findings] == ["add-not-null"]


async def test_makemigrations_before_migrate_says_to_migrate(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    model(fresh_db.name, "sf_note", title=CharField(max_length=100))
    await makemigrations(fresh_db.name, folder)
    model(fresh_db.name, "sf_note", title=CharField(max_length=100), body=TextField())
    with pytest.raises(MigrationError, match="not applied yet: run migrate first"):
        await makemigrations(fresh_db.name, folder)


# -- renames -----------------------------------------------------------------------------------------------------


async def test_renames_keep_the_data(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    model(fresh_db.name, "sf_item", title=CharField(max_length=100, index=True), qty=IntegerField())
    await makemigrations(fresh_db.name, folder)
    await migrate(fresh_db.name, folder)
    await fresh_db.execute("INSERT INTO sf_item (id, title, qty) VALUES (1, 'kept', 5)")

    # a column renamed in the model: without --rename it is a drop and an add, and makemigrations says so
    model(fresh_db.name, "sf_item", headline=CharField(max_length=100, index=True), qty=BigIntegerField())
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        guess = await make_revision(fresh_db.name, folder)
    assert guess.path is not None
    assert guess.notes == [
        "sf_item: column 'title' is dropped and 'headline' (VARCHAR(100)) added; if it is a rename, run "
        "makemigrations with --rename sf_item.title:headline instead (a drop loses the column's data)"
    ]
    guess.path.unlink()

    result = await make_revision(fresh_db.name, folder, "rename_title", renames=["sf_item.title:headline"])
    assert result.path is not None and result.notes == []
    text = result.path.read_text()
    assert "op.alter_column('sf_item', 'title'" in text and "new_column_name='headline'" in text
    assert "op.execute('ALTER INDEX ix_sf_item_title RENAME TO ix_sf_item_headline')" in text
    assert "type_=sa.BigInteger()" in text  # the other change of the table is still found
    assert "drop_column" not in text and "add_column" not in text
    await migrate(fresh_db.name, folder)
    assert await fresh_db.fetchval("SELECT headline FROM sf_item WHERE id = 1") == "kept"
    assert (await dbcheck(fresh_db.name)).in_sync

    # a table renamed in the model (in a new process the old table would not be defined at all)
    metadata = metadata_for(fresh_db.name)
    metadata.remove(metadata.tables["sf_item"])
    model(fresh_db.name, "sf_article", headline=CharField(max_length=100, index=True), qty=BigIntegerField())
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        guess = await make_revision(fresh_db.name, folder)
    assert guess.path is not None and guess.notes == [
        "table 'sf_item' has no model and the new table 'sf_article' has the same columns; if it is a rename, "
        "run makemigrations with --rename sf_item:sf_article instead"
    ]
    guess.path.unlink()
    result = await make_revision(fresh_db.name, folder, "rename_item", renames=["sf_item:sf_article"])
    assert result.path is not None and result.unmanaged_tables == []
    text = result.path.read_text()
    assert "op.rename_table('sf_item', 'sf_article')" in text and "create_table" not in text
    assert "RENAME CONSTRAINT pk_sf_item TO pk_sf_article" in text
    assert "ALTER INDEX ix_sf_item_headline RENAME TO ix_sf_article_headline" in text
    await migrate(fresh_db.name, folder)
    assert await fresh_db.fetchval("SELECT headline FROM sf_article WHERE id = 1") == "kept"
    assert (await dbcheck(fresh_db.name)).in_sync

    # both renames roll back with the data
    await rollback(fresh_db.name, folder, steps=2)
    assert await fresh_db.fetchval("SELECT title FROM sf_item WHERE id = 1") == "kept"

    with pytest.raises(
        MigrationError, match=r"--rename sf_item.nope -> x: table 'sf_item' has no column 'nope'"
    ):
        await make_revision(fresh_db.name, folder, renames=["sf_item.nope:x"])


# -- CREATE INDEX CONCURRENTLY -----------------------------------------------------------------------------------


async def test_concurrent_index_on_an_existing_table(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    model(fresh_db.name, "sf_doc", body=TextField())
    await makemigrations(fresh_db.name, folder)
    await migrate(fresh_db.name, folder)
    await fresh_db.execute(
        "INSERT INTO sf_doc (id, body) SELECT g, 'doc ' || g FROM generate_series(1, 200) g"
    )

    model(
        fresh_db.name,
        "sf_doc",
        body=TextField(),
        _indexes=[IndexDef(name="ix_sf_doc_body_c", columns=["body"], concurrently=True)],
    )
    model(  # a new table: its index is built the plain way, in the revision's transaction
        fresh_db.name,
        "sf_tag",
        label=TextField(),
        _indexes=[IndexDef(name="ix_sf_tag_label_c", columns=["label"], concurrently=True)],
    )
    path = await makemigrations(fresh_db.name, folder, "doc_index")
    assert path is not None
    text = path.read_text()
    upgrade = text[text.index("def upgrade") : text.index("def downgrade")]
    block = upgrade[upgrade.index("with op.get_context().autocommit_block():") :]
    assert (
        "op.create_index('ix_sf_doc_body_c', 'sf_doc', ['body'], unique=False, postgresql_concurrently=True)"
        in (block)
    )
    assert text.count("postgresql_concurrently=True") == 1 and "ix_sf_tag_label_c" not in block
    assert lint_migrations(folder, [str(path)], database=fresh_db.name).ok

    assert await migrate(fresh_db.name, folder) == ["0002_doc_index"]
    valid = await fresh_db.fetchval(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_sf_doc_body_c'::regclass"
    )
    assert valid is True
    assert (await dbcheck(fresh_db.name)).in_sync
    assert await rollback(fresh_db.name, folder) == ["0002_doc_index"]
    assert await fresh_db.fetchval("SELECT to_regclass('ix_sf_doc_body_c')") is None


# -- the migration lock behind a transaction pooler --------------------------------------------------------------


async def test_transaction_lock_is_released_by_the_end_of_its_transaction(fresh_db: FreshDB) -> None:  # noqa: F811
    other = await asyncpg.connect(fresh_db.url)
    try:
        async with engine_connection(fresh_db.name, operation="test") as connection:

            def take(sync: sa.Connection) -> None:
                sync.commit()
                sync.begin()
                transaction_lock(sync)

            await connection.run_sync(take)
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", lock_key()) is False
            await connection.commit()  # no unlock: the commit releases it
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", lock_key()) is True
            await other.execute("SELECT pg_advisory_unlock_all()")
    finally:
        await other.close()


async def test_migrate_through_a_transaction_pooler(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    pooled = DatabaseProjectConfig(name=fresh_db.name, url=fresh_db.url, pooler_mode="transaction")
    register_database(pooled)
    folder = tmp_path / "migrations"
    model(fresh_db.name, "sf_log", body=TextField())
    await makemigrations(fresh_db.name, folder)
    second = await create_empty(fresh_db.name, folder, "lock_seen")
    body(
        second,
        'op.execute("CREATE TABLE sf_lock_seen AS SELECT count(*) AS n FROM pg_locks "\n'
        "           \"WHERE locktype = 'advisory' AND pid = pg_backend_pid()\")",
        "op.execute('DROP TABLE sf_lock_seen')",
    )
    # every pending revision in one transaction that holds the transaction-level lock
    assert await migrate(fresh_db.name, folder) == ["0001_initial", "0002_lock_seen"]
    assert await fresh_db.fetchval("SELECT n FROM sf_lock_seen") == 1
    assert await fresh_db.advisory_locks() == 0

    # a failing revision rolls back the whole run
    await rollback(fresh_db.name, folder, steps=2)
    bad = await create_empty(fresh_db.name, folder, "bad")
    body(bad, "op.execute('SELECT 1/0')")
    with pytest.raises(MigrationError) as raised:
        await migrate(fresh_db.name, folder)
    assert raised.value.message == (
        "applying revision 0003_bad failed: division by zero; the whole run was rolled back "
        "(behind a transaction pooler every pending revision runs in one transaction)"
    )
    assert await fresh_db.tables() == {"alembic_version", "_matrx_migrations"}
    bad.unlink()

    # a revision that needs autocommit cannot hold the lock there: a clear error, nothing applied
    model(
        fresh_db.name,
        "sf_log",
        body=TextField(),
        _indexes=[IndexDef(name="ix_sf_log_body", columns=["body"], concurrently=True)],
    )
    register_database(DatabaseProjectConfig(name=fresh_db.name, url=fresh_db.url))
    await migrate(fresh_db.name, folder)
    with pytest.warns(UserWarning, match="no DROP TABLE generated.*sf_lock_seen"):
        await makemigrations(fresh_db.name, folder, "log_index")
    await rollback(fresh_db.name, folder, steps=3)
    register_database(pooled)
    with pytest.raises(MigrationError, match=r"transaction pooler .*Set migration_url \(DIRECT_URL\)"):
        await migrate(fresh_db.name, folder)
    assert "sf_log" not in await fresh_db.tables()

    # with a direct migration URL the same revisions run (one transaction each, session lock)
    register_database(
        DatabaseProjectConfig(
            name=fresh_db.name, url=fresh_db.url, pooler_mode="transaction", migration_url=fresh_db.url
        )
    )
    applied = await migrate(fresh_db.name, folder)
    assert applied == ["0001_initial", "0002_lock_seen", "0003_log_index"]
    assert await fresh_db.fetchval("SELECT to_regclass('ix_sf_log_body')::text") == "ix_sf_log_body"


async def test_pooled_migrate_waits_for_the_lock(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    """A migrate run behind a transaction pooler waits while another transaction holds the migration lock."""
    register_database(DatabaseProjectConfig(name=fresh_db.name, url=fresh_db.url, pooler_mode="transaction"))
    folder = tmp_path / "migrations"
    model(fresh_db.name, "sf_slow", body=TextField())
    await makemigrations(fresh_db.name, folder)
    slow = await create_empty(fresh_db.name, folder, "slow")
    body(slow, "op.execute('SELECT pg_sleep(0.2)')")

    other = await asyncpg.connect(fresh_db.url)
    try:
        await other.execute("BEGIN")
        await other.execute(f"SELECT pg_advisory_xact_lock({lock_key()})")  # hold the migration lock
        run = asyncio.create_task(asyncio.to_thread(asyncio.run, migrate(fresh_db.name, folder)))
        await asyncio.sleep(1.0)
        assert not run.done()  # waiting for the lock
        assert await fresh_db.advisory_locks(waiting=True) == 1
        await other.execute("COMMIT")
        assert await run == ["0001_initial", "0002_slow"]
    finally:
        await other.close()
    assert await migrate(fresh_db.name, folder) == []
    assert await fresh_db.fetchval("SELECT count(*) FROM _matrx_migrations") == 2
