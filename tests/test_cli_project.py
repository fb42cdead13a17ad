"""A project folder as a new user has it: ``models.py`` and a ``[tool.matrx-orm]`` table in ``pyproject.toml``.
``matrx-orm`` and plain ``alembic`` run in child processes with no flags naming the project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from migrations_support import FreshDB, create_fresh, drop_fresh

MODELS = textwrap.dedent(
    """
    import os

    from matrx_orm import CharField, DatabaseProjectConfig, ForeignKey, IntegerField, Model, TextField
    from matrx_orm import register_database

    register_database(
        DatabaseProjectConfig(
            name="blog", url=os.environ["CLI_TEST_URL"], pooler_mode=os.environ.get("CLI_POOLER", "session")
        )
    )


    class Category(Model):
        _database = "blog"
        _table_name = "category"
        id = IntegerField(primary_key=True)
        name = CharField(max_length=40)
        parent_id = ForeignKey(to_model="Category", to_column="id", null=True)
        if os.environ.get("CLI_V2"):
            note = TextField()
    """
)

PYPROJECT = textwrap.dedent(
    """
    [project]
    name = "blog"

    [tool.matrx-orm]
    app = "models"
    database = "blog"
    migrations = "db/migrations"
    """
)


@pytest.fixture
async def project_db(pg_url: str) -> AsyncIterator[FreshDB]:
    fresh = await create_fresh(pg_url, register=False)
    try:
        yield fresh
    finally:
        await drop_fresh(pg_url, fresh)


def run(
    cwd: Path, *args: str, env: dict[str, str], module: str = "matrx_orm"
) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if k not in ("MATRX_ORM_TRACEBACK", "MATRX_ORM_APP")}
    child_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(proc: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert proc.returncode == code, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def edit_upgrade(revision: Path, body: str) -> None:
    text = revision.read_text()
    revision.write_text(
        text.replace("def upgrade() -> None:\n    pass", f"def upgrade() -> None:\n    {body}")
    )


async def test_project_found_from_pyproject_and_plain_alembic(project_db: FreshDB, tmp_path: Path) -> None:
    root = tmp_path / "blog"
    (root / "sub").mkdir(parents=True)
    (root / "models.py").write_text(MODELS)
    (root / "pyproject.toml").write_text(PYPROJECT)
    folder = root / "db" / "migrations"
    env = {"CLI_TEST_URL": project_db.url}
    v2 = {**env, "CLI_V2": "1"}

    # matrx-orm with no flags, from the project folder and from a folder below it
    out = ok(run(root, "makemigrations", env=env))
    assert out == f"Created migration: {folder / 'versions' / '0001_initial.py'}\n"
    assert ok(run(root / "sub", "migrate", env=env)) == "  Applied: 0001_initial\nApplied 1 migration(s).\n"
    assert "[x] 0001_initial  applied" in ok(run(root / "sub", "status", env=env))

    # plain alembic in the generated folder
    out = ok(run(folder, "check", env=env, module="alembic"))
    assert "No new upgrade operations detected." in out
    out = ok(run(folder, "revision", "--autogenerate", "-m", "nothing", env=env, module="alembic"))
    assert "No changes in schema detected; no revision file written." in out
    assert sorted(p.name for p in (folder / "versions").glob("*.py")) == ["0001_initial.py"]
    proc = run(folder, "check", env=v2, module="alembic")
    assert proc.returncode != 0 and "New upgrade operations detected" in proc.stderr + proc.stdout
    assert "'add_column'" in proc.stderr + proc.stdout and "'note'" in proc.stderr + proc.stdout

    out = ok(run(root, "makemigrations", "--lint", env=v2))
    assert out.splitlines() == [
        f"Created migration: {folder / 'versions' / '0002_auto.py'}",
        "Lint: 1 revision(s), no unsafe operation.",
    ]
    proc = run(folder, "upgrade", "head", env=v2, module="alembic")
    assert "Running upgrade 0001 -> 0002, auto" in ok(proc) + proc.stderr

    # an unsafe revision: lint and dbcheck report it, with the line and the safe alternative
    out = ok(run(root, "create_empty", "--name", "category_index", env=v2))
    unsafe = folder / "versions" / "0003_category_index.py"
    assert out.strip() == f"Created empty migration: {unsafe}"
    edit_upgrade(
        unsafe, "op.execute('SELECT pg_sleep(0.3)')\n    op.create_index('ix_cat_name', 'category', ['name'])"
    )
    line = (
        unsafe.read_text().splitlines().index("    op.create_index('ix_cat_name', 'category', ['name'])") + 1
    )
    out = ok(run(root, "lint", env=v2), code=4)
    assert (
        f"  0003_category_index.py:{line}: create-index: create_index ix_cat_name on the existing table "
        in out
    )
    assert "Instead: build it concurrently" in out
    assert out.splitlines()[-1] == "Lint: 3 revision(s), 1 unsafe operation(s)."
    assert ok(run(root, "lint", "0001", "0002_auto", env=v2)).endswith(
        "Lint: 2 revision(s), no unsafe operation.\n"
    )
    out = ok(run(root, "dbcheck", env=v2), code=4)
    assert (
        "Models and database 'blog' are in sync." in out
        and "Revisions not applied yet: 0003_category_index" in out
    )
    proc = run(folder, "downgrade", "-1", env=v2, module="alembic")
    assert "Running downgrade 0002 -> 0001, auto" in ok(proc) + proc.stderr

    # codegen on the migrated database: no bookkeeping tables, inflected relation names
    ok(run(root, "generate", "-o", "gen", "-q", env=env))
    models = (root / "gen" / "models.py").read_text()
    assert "class Category(Model):" in models and "categories_by_parent" in models
    assert "alembic_version" not in models and "_matrx_migrations" not in models

    # two migrate runs behind a transaction pooler at once: one applies, the other waits and finds nothing
    pooled = {**v2, "CLI_POOLER": "transaction"}
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "matrx_orm", "migrate"],
            cwd=root,
            env={**os.environ, **pooled},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert sorted(o[0] for o in outputs) == [
        "  Applied: 0002_auto\n  Applied: 0003_category_index\nApplied 2 migration(s).\n",
        "No pending migrations.\n",
    ]
    assert await project_db.fetchval("SELECT count(*) FROM _matrx_migrations") == 3
    assert await project_db.advisory_locks() == 0

    # without pyproject.toml: the folder's alembic.ini names the database and the app
    (root / "pyproject.toml").rename(root / "pyproject.off")
    out = ok(run(root, "status", "--dir", "db/migrations", env=v2))
    assert "3 applied, 0 pending, 0 modified." in out


async def test_without_a_project_the_error_says_what_to_add(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS)
    for command in ("makemigrations", "dbcheck"):  # one path resolves the project for every command
        proc = run(tmp_path, command, env={"CLI_TEST_URL": "postgresql://nobody@127.0.0.1:1/x"})
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr == (
            "matrx-orm: error: no database project given: pass --database NAME, or add to pyproject.toml "
            '[tool.matrx-orm] database = "NAME" and app = "models" (the module that calls register_database() '
            "and imports your models)\n"
        )
    proc = run(tmp_path, "makemigrations", "--rename", "post.title", env={})
    assert proc.returncode == 1 and proc.stderr == (
        "matrx-orm: error: --rename expects table.old_column:new_column or old_table:new_table; "
        "got 'post.title'\n"
    )
    (tmp_path / "pyproject.toml").write_text('[tool.matrx-orm]\ndatabse = "blog"\n')
    proc = run(tmp_path, "status", env={})
    assert proc.returncode == 1 and re.fullmatch(
        r"matrx-orm: error: unknown key 'databse' in \[tool\.matrx-orm\] of .*pyproject\.toml \(expected app, "
        r"database, migrations, skip_tables\); did you mean 'database'\?\n",
        proc.stderr,
    )
