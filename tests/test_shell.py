"""``matrx-orm shell``: a temporary project's app imported, its models in the namespace, top-level ``await``
(in ``-c`` code and at the asyncio console's prompt), run in child processes against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from matrx_orm.db import executor

REPO_ROOT = Path(__file__).resolve().parent.parent

APP = """
import os

from matrx_orm import CharField, DatabaseProjectConfig, IntegerField, Model, register_database

register_database(DatabaseProjectConfig(name="test", url=os.environ["SHELL_TEST_URL"]))


class ShPet(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=50)

    _table_name = "sh_pet"
    _database = "test"
    _ordering = ["name"]
"""


@pytest.fixture
async def project(db: str, tmp_path: Path) -> Path:
    """A project folder with ``petapp.py`` (the database and the ShPet model) and a table of three pets."""
    await executor.execute(db, "CREATE TABLE IF NOT EXISTS sh_pet (id int PRIMARY KEY, name varchar(50))", [])
    await executor.execute(db, "TRUNCATE sh_pet", [])
    await executor.execute(db, "INSERT INTO sh_pet VALUES (1, 'rex'), (2, 'ada'), (3, 'tom')", [])
    (tmp_path / "petapp.py").write_text(APP, encoding="utf-8")
    return tmp_path


def shell(
    project: Path, pg_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MATRX_ORM_TRACEBACK", "MATRX_ORM_APP")}
    env.update(SHELL_TEST_URL=pg_url, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "matrx_orm", "shell", *args],
        cwd=project,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_c_prints_the_value_of_an_awaited_expression(project: Path, pg_url: str) -> None:
    proc = shell(project, pg_url, "--app", "petapp", "-c", "await ShPet.count()")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "3\n", "")


async def test_c_runs_statements_with_the_app_from_pyproject(project: Path, pg_url: str) -> None:
    (project / "pyproject.toml").write_text('[tool.matrx-orm]\napp = "petapp"\n', encoding="utf-8")
    code = "pets = await ShPet.all()\nprint(', '.join(p.name for p in pets))"
    proc = shell(project, pg_url, "--database", "test", "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ada, rex, tom\n"  # the model's default ordering


async def test_c_error_is_one_line_and_exit_code_1(project: Path, pg_url: str) -> None:
    proc = shell(project, pg_url, "--app", "petapp", "-c", "await ShPet.get(99)")
    assert proc.returncode == 1
    assert proc.stderr.startswith("matrx-orm: error: No ShPet matches")


async def test_console_awaits_at_the_prompt_and_lists_databases_and_models(
    project: Path, pg_url: str
) -> None:
    lines = "n = await ShPet.count()\nprint('pets:', n)\nawait ShPet.filter(name='ada').values_list('id', flat=True)\n"
    proc = shell(project, pg_url, "--app", "petapp", "--no-ipython", stdin=lines)
    assert proc.returncode == 0, proc.stderr
    assert "pets: 3" in proc.stdout
    assert "[2]" in proc.stdout  # an expression's value is shown, as at any Python prompt
    assert "App: petapp" in proc.stderr
    assert "  test  postgresql://" in proc.stderr
    assert "models: ShPet" in proc.stderr
    assert "Traceback" not in proc.stderr
