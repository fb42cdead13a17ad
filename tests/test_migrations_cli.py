"""The ``matrx-orm`` migration subcommands and plain ``alembic``, in child processes, on a fresh database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from migrations_support import FreshDB, create_fresh, drop_fresh

from matrx_orm.cli import main

APP = textwrap.dedent(
    """
    import os

    from matrx_orm import CharField, DatabaseProjectConfig, IntegerField, Model, TextField, register_database

    register_database(DatabaseProjectConfig(name="cliapp", url=os.environ["CLI_TEST_URL"]))


    class Widget(Model):
        _database = "cliapp"
        _table_name = "mg_widget"
        id = IntegerField(primary_key=True)
        label = CharField(max_length=40)
        if os.environ.get("CLI_TEST_V2"):
            note = TextField()
    """
)


@pytest.fixture
async def cli_db(pg_url: str) -> AsyncIterator[FreshDB]:
    fresh = await create_fresh(pg_url, register=False)
    try:
        yield fresh
    finally:
        await drop_fresh(pg_url, fresh)


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, module: str = "matrx_orm"
) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if k not in ("MATRX_ORM_TRACEBACK", "MATRX_ORM_APP")}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def check(proc: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert proc.returncode == code, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def one_error_line(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("matrx-orm: error: ")
    return lines[0]


async def test_cli_cycle_and_plain_alembic(
    cli_db: FreshDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "myapp.py").write_text(APP)
    env = {"CLI_TEST_URL": cli_db.url}
    common = ("--database", "cliapp", "--dir", "migrations", "--app", "myapp")

    out = check(run(tmp_path, "makemigrations", *common, env=env))
    assert out.strip() == f"Created migration: {tmp_path / 'migrations' / 'versions' / '0001_initial.py'}"
    ini = (tmp_path / "migrations" / "alembic.ini").read_text()
    assert "matrx_orm.database = cliapp" in ini and "matrx_orm.app = myapp" in ini

    out = check(run(tmp_path, "status", *common, env=env))
    assert "[ ] 0001_initial  pending" in out and "0 applied, 1 pending, 0 modified." in out

    out = check(run(tmp_path, "dbcheck", "-d", "cliapp", "--app", "myapp", env=env), code=3)
    assert "Models and database 'cliapp' differ (1):" in out and "add_table mg_widget" in out

    # two processes migrate at once: the advisory lock makes one wait; the revision is applied once
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "matrx_orm", "migrate", *common],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    stdouts = sorted(o[0] for o in outputs)
    assert stdouts == ["  Applied: 0001_initial\nApplied 1 migration(s).\n", "No pending migrations.\n"]
    assert await cli_db.fetchval("SELECT count(*) FROM _matrx_migrations") == 1

    out = check(run(tmp_path, "dbcheck", "-d", "cliapp", "--app", "myapp", env=env))
    assert "are in sync" in out

    # plain Alembic in the generated folder, with the ini matrx-orm wrote
    alembic_ini = str(tmp_path / "migrations" / "alembic.ini")
    check(run(tmp_path, "-c", alembic_ini, "downgrade", "base", env=env, module="alembic"))
    assert "mg_widget" not in await cli_db.tables()
    assert await cli_db.fetchval("SELECT count(*) FROM _matrx_migrations") == 0
    check(
        run(tmp_path / "migrations", "upgrade", "head", env=env, module="alembic")
    )  # cd migrations && alembic
    assert "mg_widget" in await cli_db.tables()
    assert await cli_db.fetchval("SELECT name FROM _matrx_migrations") == "0001_initial"

    # app discovery without --app: MATRX_ORM_APP, then [tool.matrx-orm] in pyproject.toml
    plain = ("-d", "cliapp", "--dir", "migrations", "--app", "myapp")
    out = check(run(tmp_path, "status", "-d", "cliapp", env={**env, "MATRX_ORM_APP": "myapp"}))
    assert "[x] 0001_initial  applied" in out

    # change the model: a second revision, applied and rolled back
    env2 = {**env, "CLI_TEST_V2": "1"}
    out = check(run(tmp_path, "makemigrations", *plain, "--name", "add_note", env=env2))
    assert out.strip().endswith("0002_add_note.py")
    assert "Applied: 0002_add_note" in check(run(tmp_path, "migrate", *plain, env=env2))
    assert "note" in await cli_db.columns("mg_widget")
    out = check(run(tmp_path, "rollback", *plain, "--steps", "1", env=env2))
    assert out == "  Rolled back: 0002_add_note\nRolled back 1 migration(s).\n"
    assert "note" not in await cli_db.columns("mg_widget")

    out = check(run(tmp_path, "create_empty", *plain, "--name", "custom_ddl", env=env))
    assert out.strip().endswith("0003_custom_ddl.py")

    # an applied file edited afterwards: status flags it, migrate refuses (exit 1) unless --allow-modified
    first = tmp_path / "migrations" / "versions" / "0001_initial.py"
    first.write_text(first.read_text() + "\n# edited\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLI_TEST_URL", cli_db.url)
    monkeypatch.syspath_prepend(str(tmp_path))
    capsys.readouterr()
    try:  # in this process, to keep the test fast
        assert await _main_in_thread(["status", *plain]) == 0
        out = capsys.readouterr().out
        assert "[!] 0001_initial" in out and "changed since it was applied" in out
        assert await _main_in_thread(["migrate", *plain]) == 1
        line = capsys.readouterr().err.strip()
        assert line.startswith("matrx-orm: error: migration file(s) changed after they were applied: ")
        assert "0001_initial.py" in line and "--allow-modified" in line and "\n" not in line
        assert await _main_in_thread(["migrate", *plain, "--allow-modified"]) == 0
        out = capsys.readouterr().out
        assert "Applied: 0002_add_note" in out and "Applied: 0003_custom_ddl" in out
    finally:
        from matrx_orm import unregister_database

        unregister_database("cliapp")
        sys.modules.pop("myapp", None)


async def test_cli_errors_are_one_line(
    cli_db: FreshDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "myapp_errors.py").write_text(APP)
    env = {"CLI_TEST_URL": cli_db.url}

    # in a real process: no app configured anywhere
    line = one_error_line(run(tmp_path, "migrate", "-d", "cliapp", env=env))
    assert "database 'cliapp' is not registered" in line
    assert "--app" in line and "MATRX_ORM_APP" in line and "[tool.matrx-orm]" in line

    # the rest in this process (cli.main on a worker thread)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLI_TEST_URL", cli_db.url)
    monkeypatch.delenv("MATRX_ORM_APP", raising=False)
    monkeypatch.delenv("MATRX_ORM_TRACEBACK", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))

    async def error_line(argv: list[str], code: int = 1) -> str:
        assert await _main_in_thread(argv) == code
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("matrx-orm: error: "), err
        return lines[0]

    try:
        line = await error_line(["status", "-d", "cliapp", "--app", "no_such_module"])
        assert "cannot import app module 'no_such_module' (from --app)" in line

        # [tool.matrx-orm] app in pyproject.toml is found without --app
        (tmp_path / "pyproject.toml").write_text('[tool.matrx-orm]\napp = "myapp_errors"\n')
        line = await error_line(["migrate", "-d", "other"])
        assert "database 'other' is not registered after importing the app" in line
        assert "[tool.matrx-orm] app in" in line and "'cliapp'" in line

        line = await error_line(["migrate", "-d", "cliapp", "--dir", "nowhere"])
        assert "is not a migrations folder" in line

        assert await _main_in_thread(["rollback", "-d", "cliapp", "--steps", "0"]) == 2
        assert "expected a positive whole number" in capsys.readouterr().err

        argv = ["dbcheck", "-d", "cliapp", "--include-tables", "a", "--exclude-tables", "b"]
        line = await error_line(argv, code=2)
        assert line == (
            "matrx-orm: error: --include-tables and --exclude-tables are mutually exclusive; pass one of them"
        )

        monkeypatch.setenv("CLI_TEST_URL", "postgresql://nobody@127.0.0.1:1/x")
        sys.modules.pop("myapp_errors", None)
        line = await error_line(["dbcheck", "-d", "cliapp"])
        assert line.startswith("matrx-orm: error: cannot connect to postgresql://nobody@127.0.0.1:1/x")

        for command in ("makemigrations", "migrate", "rollback", "status", "create_empty", "dbcheck"):
            assert await _main_in_thread([command, "--help"]) == 0
            out = capsys.readouterr().out
            assert "--database" in out and "--app" in out
    finally:
        from matrx_orm import unregister_database
        from matrx_orm.config import get_all_database_project_names

        if "cliapp" in get_all_database_project_names():
            unregister_database("cliapp")
        sys.modules.pop("myapp_errors", None)


async def test_cli_in_process_warnings_and_rebuild(
    cli_db: FreshDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "myapp_inproc.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLI_TEST_URL", cli_db.url)
    monkeypatch.syspath_prepend(str(tmp_path))
    await cli_db.execute("CREATE TABLE mg_orphan (id int)")
    common = ["-d", "cliapp", "--app", "myapp_inproc"]
    try:
        assert await _main_in_thread(["makemigrations", *common]) == 0
        captured = capsys.readouterr()
        assert "Created migration:" in captured.out
        assert "matrx-orm: warning: Tables in the database with no model" in captured.err
        assert "mg_orphan" in captured.err

        from matrx_orm.migrations import commands

        calls: list[dict[str, Any]] = []

        async def fake_generate(**kwargs: Any) -> str:
            calls.append(kwargs)
            return "generated"

        monkeypatch.setattr(commands, "_codegen_entry_point", lambda: fake_generate)
        code = await _main_in_thread(["migrate_and_rebuild", *common, "--output-dir", "out"])
        assert code == 0
        assert calls == [{"database_project": "cliapp", "output_dir": "out"}]
        assert "Applied: 0001_initial" in capsys.readouterr().out

        monkeypatch.setattr(commands, "_codegen_entry_point", lambda: None)
        assert await _main_in_thread(["migrate_and_rebuild", *common]) == 0
        captured = capsys.readouterr()
        assert "No pending" not in captured.out and "Applied 0 migration(s)." in captured.out
        assert "Models not regenerated: code generation unavailable" in captured.out
        assert "model code generation is unavailable" in captured.err
    finally:
        from matrx_orm import unregister_database

        unregister_database("cliapp")
        sys.modules.pop("myapp_inproc", None)


LEGACY_FILE = '''"""Old-format migration."""

dependencies = []


async def up(db):
    await db.execute("CREATE TABLE mg_cli_legacy (id int PRIMARY KEY)")


async def down(db):
    await db.execute("DROP TABLE mg_cli_legacy")
'''


async def test_cli_help_scope_drops_legacy_and_rebuild_in_subprocesses(
    cli_db: FreshDB, tmp_path: Path
) -> None:
    (tmp_path / "myapp.py").write_text(APP)
    env = {"CLI_TEST_URL": cli_db.url}
    common = ("-d", "cliapp", "--app", "myapp")

    # help: the top level lists every command; each command has its own help; exit codes 0 / 2
    out = check(run(tmp_path, "--help"))
    for command in (
        "makemigrations",
        "migrate",
        "rollback",
        "status",
        "create_empty",
        "dbcheck",
        "convert_legacy",
        "migrate_and_rebuild",
    ):
        assert command in out
        assert "--database" in check(run(tmp_path, command, "--help"))
    bad = run(tmp_path, "no_such_command")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr

    # --include-tables with --exclude-tables: one clean line, exit 2, nothing written
    line = one_error_line(
        run(tmp_path, "makemigrations", *common, "--include-tables", "a", "--exclude-tables", "b", env=env),
        code=2,
    )
    assert (
        line
        == "matrx-orm: error: --include-tables and --exclude-tables are mutually exclusive; pass one of them"
    )
    assert not (tmp_path / "migrations").exists()

    # a table with no model: reported (exit 0), dropped only with --allow-drops
    await cli_db.execute("CREATE TABLE mg_stray (id int)")
    check(run(tmp_path, "makemigrations", *common, env=env))
    check(run(tmp_path, "migrate", *common, env=env))
    proc = run(tmp_path, "dbcheck", *common, env=env)
    assert "note: table mg_stray has no model" in check(proc) and "are in sync" in proc.stdout
    out = check(run(tmp_path, "dbcheck", *common, "--allow-drops", env=env), code=3)
    assert "remove_table mg_stray" in out
    proc = run(tmp_path, "makemigrations", *common, env=env)
    assert check(proc).strip() == "No changes detected."
    assert (
        "matrx-orm: warning: Tables in the database with no model" in proc.stderr
        and "mg_stray" in proc.stderr
    )
    out = check(run(tmp_path, "makemigrations", *common, "--allow-drops", "--name", "drop_stray", env=env))
    assert "0002_drop_stray.py" in out and "drops table mg_stray (--allow-drops)" in out
    check(run(tmp_path, "migrate", *common, env=env))
    assert "mg_stray" not in await cli_db.tables()

    # status: a header, one line per revision, a summary
    out = check(run(tmp_path, "status", *common, env=env))
    lines = out.splitlines()
    assert lines[0] == "Migrations in migrations for database 'cliapp':"
    assert lines[1].startswith("  [x] 0001_initial     applied  ")
    assert lines[2].startswith("  [x] 0002_drop_stray  applied  ")
    assert lines[3] == "2 applied, 0 pending, 0 modified."

    # migrate_and_rebuild regenerates the models package from the migrated database
    out = check(run(tmp_path, "migrate_and_rebuild", *common, "--output-dir", "generated", env=env))
    assert "Applied 0 migration(s)." in out and "Models regenerated." in out
    models = (tmp_path / "generated" / "models.py").read_text()
    assert "mg_widget" in models

    # convert_legacy on an old-format folder, then migrate it (after rolling the other folder back)
    out = check(run(tmp_path, "rollback", *common, "--steps", "5", env=env))
    assert out == "  Rolled back: 0002_drop_stray\n  Rolled back: 0001_initial\nRolled back 2 migration(s).\n"
    assert await cli_db.fetchval("SELECT count(*) FROM alembic_version") == 0
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "0001_old.py").write_text(LEGACY_FILE)
    out = check(run(tmp_path, "convert_legacy", *common, "--dir", "legacy", env=env))
    assert out == "  Converted: 0001_old\nConverted 1 legacy migration(s).\n"
    assert "Applied: 0001_old" in check(run(tmp_path, "migrate", *common, "--dir", "legacy", env=env))
    assert "mg_cli_legacy" in await cli_db.tables()


async def _main_in_thread(argv: list[str]) -> int:
    """``cli.main(argv)`` runs its own event loop, so call it from a worker thread."""
    import asyncio

    return await asyncio.to_thread(main, argv)
