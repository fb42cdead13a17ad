"""Native PostgreSQL enum types through makemigrations / migrate / rollback, on a fresh real database."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from migrations_support import FreshDB, fresh_db  # noqa: F401  (fixture)

from matrx_orm import ConfigurationError, EnumField, IntegerField, Model
from matrx_orm.migrations import dbcheck, make_revision, makemigrations, migrate, rollback


def enum_class(labels: list[str]) -> type[enum.Enum]:
    return enum.Enum("Mood", {label.upper(): label for label in labels})  # type: ignore[return-value]


def person_model(database: str, table: str = "mg_person", **fields: Any) -> type[Model]:
    attrs: dict[str, Any] = {
        "_database": database,
        "_table_name": table,
        "id": IntegerField(primary_key=True),
    }
    attrs.update(fields)
    return type("MgPerson", (Model,), {"__module__": __name__, **attrs})


def mood_field(labels: list[str], name: str = "mg_mood", schema: str | None = None) -> EnumField:
    return EnumField(enum_class=enum_class(labels), enum_name=name, enum_schema=schema, null=True)


async def enum_labels(db: FreshDB, name: str, schema: str = "public") -> list[str]:
    rows = await db.fetch(
        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
        "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typname = $1 AND n.nspname = $2 "
        "ORDER BY e.enumsortorder",
        name,
        schema,
    )
    return [row["enumlabel"] for row in rows]


async def enum_types(db: FreshDB) -> set[str]:
    rows = await db.fetch(
        "SELECT n.nspname || '.' || t.typname AS name FROM pg_type t "
        "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'e'"
    )
    return {row["name"] for row in rows}


def upgrade_part(path: Path) -> str:
    return path.read_text().split("def downgrade")[0]


def downgrade_part(path: Path) -> str:
    return path.read_text().split("def downgrade")[1]


async def test_enum_type_created_extended_and_dropped(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    person_model(fresh_db.name, mood=mood_field(["happy", "sad"]))

    first = await makemigrations(fresh_db.name, folder)
    assert first is not None
    up = upgrade_part(first)
    assert "op.execute(\"CREATE TYPE mg_mood AS ENUM ('happy', 'sad')\")" in up
    assert up.index("CREATE TYPE mg_mood") < up.index("op.create_table('mg_person'")
    assert "postgresql.ENUM('happy', 'sad', name='mg_mood', create_type=False)" in up
    down = downgrade_part(first)
    assert down.index("op.drop_table('mg_person')") < down.index("DROP TYPE IF EXISTS mg_mood")

    assert await migrate(fresh_db.name, folder) == ["0001_initial"]
    assert await enum_labels(fresh_db, "mg_mood") == ["happy", "sad"]
    assert await makemigrations(fresh_db.name, folder) is None
    assert (await dbcheck(fresh_db.name)).in_sync

    # a new member in the middle and one at the end
    model = person_model(fresh_db.name, mood=mood_field(["happy", "angry", "sad", "calm"]))
    check = await dbcheck(fresh_db.name)
    assert check.differences == ["add_enum_values mg_mood (angry, calm)"]
    await fresh_db.execute("INSERT INTO mg_person (id, mood) VALUES (1, 'happy')")
    second = await makemigrations(fresh_db.name, folder, name="more moods")
    assert second is not None and second.name == "0002_more_moods.py"
    up = upgrade_part(second)
    assert "with op.get_context().autocommit_block():" in up
    assert "ALTER TYPE mg_mood ADD VALUE IF NOT EXISTS 'angry' AFTER 'happy'" in up
    assert "ALTER TYPE mg_mood ADD VALUE IF NOT EXISTS 'calm' AFTER 'sad'" in up
    assert "PostgreSQL cannot drop enum values: 'angry', 'calm' stay in type mg_mood" in downgrade_part(
        second
    )
    # the same revision may use the new value: the ADD VALUE block is committed before the rest runs
    second.write_text(
        second.read_text().replace(
            "    # ### end Alembic commands ###\n\n\ndef downgrade",
            "    op.execute(\"UPDATE mg_person SET mood = 'angry' WHERE id = 1\")\n"
            "    # ### end Alembic commands ###\n\n\ndef downgrade",
            1,
        )
    )
    assert await migrate(fresh_db.name, folder) == ["0002_more_moods"]
    assert await enum_labels(fresh_db, "mg_mood") == ["happy", "angry", "sad", "calm"]
    assert await fresh_db.fetchval("SELECT mood::text FROM mg_person WHERE id = 1") == "angry"
    assert (await model.get(id=1)).mood.value == "angry"
    # nothing re-detected afterwards
    assert await makemigrations(fresh_db.name, folder) is None
    assert (await dbcheck(fresh_db.name)).in_sync

    # downgrade of an added value: the value stays (PostgreSQL cannot drop it); the upgrade runs again
    assert await rollback(fresh_db.name, folder) == ["0002_more_moods"]
    assert await enum_labels(fresh_db, "mg_mood") == ["happy", "angry", "sad", "calm"]
    assert await migrate(fresh_db.name, folder) == ["0002_more_moods"]

    # what the autocommit block avoids: using a value in the transaction that added it fails
    conn = await asyncpg.connect(fresh_db.url)
    try:
        with pytest.raises(asyncpg.UnsafeNewEnumValueUsageError):
            async with conn.transaction():
                await conn.execute("ALTER TYPE mg_mood ADD VALUE 'bored'")
                await conn.execute("UPDATE mg_person SET mood = 'bored'")
    finally:
        await conn.close()

    assert await rollback(fresh_db.name, folder, steps=2) == ["0002_more_moods", "0001_initial"]
    assert "public.mg_mood" not in await enum_types(fresh_db)
    assert "mg_person" not in await fresh_db.tables()


async def test_enum_types_with_schemas(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    # a model in schema mg_es: one enum in that schema, one in the default schema, one in a schema of its own
    fields = {
        "_db_schema": "mg_es",
        "mood": mood_field(["happy", "sad"], name="mg_s_mood", schema="mg_es"),
        "level": mood_field(["low", "high"], name="mg_level"),
        "color": mood_field(["red"], name="mg_color", schema="mg_types"),
    }
    person_model(fresh_db.name, **fields)
    path = await makemigrations(fresh_db.name, folder)
    assert path is not None
    up = upgrade_part(path)
    for sql in (
        "CREATE SCHEMA IF NOT EXISTS mg_es",
        "CREATE SCHEMA IF NOT EXISTS mg_types",
        "CREATE TYPE mg_es.mg_s_mood AS ENUM ('happy', 'sad')",
        "CREATE TYPE mg_level AS ENUM ('low', 'high')",
        "CREATE TYPE mg_types.mg_color AS ENUM ('red')",
    ):
        assert sql in up
        assert up.index(sql) < up.index("op.create_table")
    assert up.index("CREATE SCHEMA IF NOT EXISTS mg_types") < up.index("CREATE TYPE mg_types.mg_color")
    assert "name='mg_s_mood', schema='mg_es', create_type=False" in up

    await migrate(fresh_db.name, folder)
    assert {"mg_es.mg_s_mood", "public.mg_level", "mg_types.mg_color"} <= await enum_types(fresh_db)
    assert await fresh_db.tables("mg_es") == {"mg_person"}
    assert await makemigrations(fresh_db.name, folder) is None

    fields["mood"] = mood_field(["happy", "sad", "tired"], name="mg_s_mood", schema="mg_es")
    person_model(fresh_db.name, **fields)
    second = await makemigrations(fresh_db.name, folder)
    assert second is not None
    assert "ALTER TYPE mg_es.mg_s_mood ADD VALUE IF NOT EXISTS 'tired' AFTER 'sad'" in second.read_text()
    assert "CREATE TYPE" not in second.read_text()
    await migrate(fresh_db.name, folder)
    assert await enum_labels(fresh_db, "mg_s_mood", "mg_es") == ["happy", "sad", "tired"]
    assert await makemigrations(fresh_db.name, folder) is None
    assert (await dbcheck(fresh_db.name)).in_sync

    await rollback(fresh_db.name, folder, steps=2)
    assert await enum_types(fresh_db) == set()
    schemas = await fresh_db.fetch("SELECT nspname FROM pg_namespace WHERE nspname IN ('mg_es', 'mg_types')")
    assert schemas == []


async def test_enum_column_added_to_existing_table(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    person_model(fresh_db.name)
    await makemigrations(fresh_db.name, folder)
    await migrate(fresh_db.name, folder)

    person_model(fresh_db.name, mood=mood_field(["happy", "sad"]))
    path = await makemigrations(fresh_db.name, folder, name="add mood")
    assert path is not None
    up = upgrade_part(path)
    assert up.index("CREATE TYPE mg_mood") < up.index("op.add_column('mg_person'")
    assert await migrate(fresh_db.name, folder) == ["0002_add_mood"]
    assert (await fresh_db.columns("mg_person"))["mood"] == "mg_mood"
    assert await makemigrations(fresh_db.name, folder) is None

    assert await rollback(fresh_db.name, folder) == ["0002_add_mood"]
    assert "mood" not in await fresh_db.columns("mg_person")
    assert "public.mg_mood" not in await enum_types(fresh_db)


async def test_removed_renamed_and_reordered_members_are_reported(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "migrations"
    person_model(fresh_db.name, mood=mood_field(["happy", "sad", "angry"]))
    await makemigrations(fresh_db.name, folder)
    await migrate(fresh_db.name, folder)
    await fresh_db.execute("INSERT INTO mg_person (id, mood) VALUES (1, 'sad')")

    # 'sad' renamed to 'unhappy' in the model: 'unhappy' is added, 'sad' is kept and reported
    model = person_model(fresh_db.name, mood=mood_field(["happy", "unhappy", "angry"]))
    with pytest.warns(UserWarning, match=r"enum type mg_mood has value\(s\) \['sad'\] in the database"):
        result = await make_revision(fresh_db.name, folder, name="rename")
    assert result.enum_reports and "RENAME VALUE" in result.enum_reports[0]
    assert result.path is not None
    text = result.path.read_text()
    assert "ADD VALUE IF NOT EXISTS 'unhappy' AFTER 'happy'" in text
    assert "sad" not in upgrade_part(result.path)  # nothing generated against the old member
    await migrate(fresh_db.name, folder)
    assert await enum_labels(fresh_db, "mg_mood") == ["happy", "unhappy", "sad", "angry"]
    assert await fresh_db.fetchval("SELECT mood::text FROM mg_person WHERE id = 1") == "sad"  # no data lost
    assert (await model.get(id=1)).mood == "sad"  # read back as the raw string

    check = await dbcheck(fresh_db.name)
    assert not check.in_sync
    assert check.differences == [
        "enum: enum type mg_mood has value(s) ['sad'] in the database that the model no longer has; they were "
        "left in place (rows may still use them). Rename one with ALTER TYPE ... RENAME VALUE, or recreate "
        "the type, in a hand-written revision (create_empty)."
    ]
    with pytest.warns(UserWarning, match="no longer has"):
        assert await makemigrations(fresh_db.name, folder) is None  # reported again, no empty file

    # same members, another order: reported, nothing generated
    person_model(fresh_db.name, mood=mood_field(["unhappy", "happy", "sad", "angry"]))
    check = await dbcheck(fresh_db.name)
    assert len(check.differences) == 1 and "orders its values" in check.differences[0]
    with pytest.warns(UserWarning, match="orders its values"):
        assert await makemigrations(fresh_db.name, folder) is None


async def test_one_enum_type_declared_twice_differently(fresh_db: FreshDB, tmp_path: Path) -> None:  # noqa: F811
    person_model(fresh_db.name, mood=mood_field(["happy", "sad"]))
    person_model(fresh_db.name, table="mg_other", mood=mood_field(["happy"]))
    with pytest.raises(ConfigurationError, match="enum type 'mg_mood' is declared with different members"):
        await makemigrations(fresh_db.name, tmp_path)
    # one type shared by two tables with the same members: created once, dropped once
    person_model(fresh_db.name, table="mg_other", mood=mood_field(["happy", "sad"]))
    path = await makemigrations(fresh_db.name, tmp_path)
    assert path is not None and path.read_text().count("CREATE TYPE mg_mood") == 1
    await migrate(fresh_db.name, tmp_path)
    assert await rollback(fresh_db.name, tmp_path) == ["0001_initial"]
    assert await enum_types(fresh_db) == set()
