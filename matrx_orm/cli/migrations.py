"""The migration subcommands of ``matrx-orm`` (listed in :data:`matrx_orm.cli.COMMANDS`).

Every command first finds the project (:func:`~matrx_orm.cli.options.resolve_project`: the flags, else
``[tool.matrx-orm]`` in pyproject.toml, else the migrations folder's alembic.ini), imports the user's app so
the database is registered and the models are defined, then runs the API of :mod:`matrx_orm.migrations`.
Exit codes: 0 done, 1 failed (message on stderr), 2 bad usage, 3 ``dbcheck`` found differences, 4 the linter
found unsafe operations (``lint``, ``makemigrations --lint``, ``dbcheck``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .. import HealthStatus, dispose_all, health_check
from .generate import _register as register_target  # shared with generate: --database NAME or --database-url
from .options import (
    EXIT_DIFFERENCES,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_UNSAFE,
    Command,
    UsageError,
    add_app_option,
    add_database_option,
    add_dir_option,
    postgres_url,
    resolve_project,
)

if TYPE_CHECKING:
    from ..migrations import LintReport

__all__ = ["migration_commands"]

T = TypeVar("T")


def _out(line: str = "") -> None:
    print(line, flush=True)


def _warn(line: str) -> None:
    print(f"matrx-orm: warning: {line}", file=sys.stderr, flush=True)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


# -- shared options ------------------------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_database_option(parser)
    add_dir_option(parser)
    add_app_option(parser)


def _add_scope(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scope (--include-tables and --exclude-tables are mutually exclusive)")
    group.add_argument(
        "--include-tables", nargs="+", metavar="TABLE", help="only diff these tables (an allowlist)"
    )
    group.add_argument(
        "--exclude-tables", nargs="+", metavar="TABLE", help="diff every table except these (a denylist)"
    )
    group.add_argument(
        "--allow-drops",
        action="store_true",
        help="generate DROP TABLE for tables in the database that have no model in scope "
        "(without it they are only reported)",
    )


def _prepare(args: argparse.Namespace) -> None:
    """Check the options, import the app and check that ``--database`` is registered.

    Raises :class:`~matrx_orm.cli.UsageError` (one line, exit 2) for ``--include-tables`` together with
    ``--exclude-tables``, and a clear ConfigurationError for an app or database that cannot be found.
    """
    if getattr(args, "include_tables", None) and getattr(args, "exclude_tables", None):
        raise UsageError("--include-tables and --exclude-tables are mutually exclusive; pass one of them")
    resolve_project(args)


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine on a fresh loop, printing the warnings it raised as ``matrx-orm: warning:`` lines."""

    async def main() -> T:
        try:
            return await factory()
        finally:
            await dispose_all()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            coroutine: Coroutine[Any, Any, T] = main()
            return asyncio.run(coroutine)
        finally:
            for item in caught:
                text = str(item.message).removeprefix("[MATRX ORM] ")
                _warn(" ".join(text.split()))


# -- makemigrations ------------------------------------------------------------------------------------------


def _add_makemigrations(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument("--name", "-n", help="name of the revision (default: 'initial', then 'auto')")
    parser.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="OLD:NEW",
        help="table.old_column:new_column or old_table:new_table: generate a rename (which keeps the data) "
        "instead of a drop and an add (repeatable)",
    )
    parser.add_argument(
        "--lint",
        action="store_true",
        help=f"lint the new revision; exit {EXIT_UNSAFE} when it locks or rewrites a busy table",
    )
    _add_scope(parser)


def _run_makemigrations(args: argparse.Namespace) -> int:
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import Rename, lint_migrations, make_revision

    renames = [Rename.parse(text) for text in args.rename]
    _prepare(args)
    result = _run(
        lambda: make_revision(
            args.database,
            args.dir,
            args.name,
            include_tables=args.include_tables,
            exclude_tables=args.exclude_tables,
            allow_drops=args.allow_drops,
            app_modules=args.app_modules,
            renames=renames,
            project_root=args.project_root,
        )
    )
    if result.path is None:
        _out("No changes detected.")
        return EXIT_OK
    _out(f"Created migration: {result.path}")
    for table in result.dropped_tables:
        _out(f"  drops table {table} (--allow-drops)")
    if args.lint:
        return _print_lint(lint_migrations(args.dir, [str(result.path)], database=args.database))
    return EXIT_OK


# -- migrate / rollback --------------------------------------------------------------------------------------


def _add_migrate(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument(
        "--allow-modified",
        action="store_true",
        help="run even when an applied revision file changed since it was applied",
    )


def _run_migrate(args: argparse.Namespace) -> int:
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import migrate

    _prepare(args)
    applied = _run(lambda: migrate(args.database, args.dir, allow_modified=args.allow_modified))
    for name in applied:
        _out(f"  Applied: {name}")
    _out(f"Applied {len(applied)} migration(s)." if applied else "No pending migrations.")
    return EXIT_OK


def _add_rollback(parser: argparse.ArgumentParser) -> None:
    _add_migrate(parser)
    parser.add_argument(
        "--steps", type=_positive_int, default=1, metavar="N", help="how many revisions (default: 1)"
    )


def _run_rollback(args: argparse.Namespace) -> int:
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import rollback

    _prepare(args)
    reverted = _run(lambda: rollback(args.database, args.dir, args.steps, allow_modified=args.allow_modified))
    for name in reverted:
        _out(f"  Rolled back: {name}")
    _out(f"Rolled back {len(reverted)} migration(s)." if reverted else "Nothing to roll back.")
    return EXIT_OK


# -- status --------------------------------------------------------------------------------------------------


def _run_status(args: argparse.Namespace) -> int:
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import migration_status

    _prepare(args)
    state = _run(lambda: migration_status(args.database, args.dir))
    marks = {"applied": "[x]", "pending": "[ ]", "modified": "[!]"}
    _out(f"Migrations in {args.dir} for database {args.database!r}:")
    width = max((len(e.name) for e in state.entries), default=0)
    for entry in state.entries:
        when = f"  {entry.applied_at:%Y-%m-%d %H:%M:%S}" if entry.applied_at and entry.applied else ""
        note = "  changed since it was applied" if entry.modified else ""
        _out(f"  {marks[entry.flag]} {entry.name:<{width}}  {entry.flag}{when}{note}")
    if not state.entries:
        _out("  No migrations found.")
    for head in state.missing:
        _out(f"  [?] revision {head} is applied to the database but has no file in {args.dir}")
    _out(f"{len(state.applied)} applied, {len(state.pending)} pending, {len(state.modified)} modified.")
    return EXIT_OK


# -- create_empty --------------------------------------------------------------------------------------------


def _add_create_empty(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument("--name", "-n", default="custom", help="name of the revision (default: custom)")


def _run_create_empty(args: argparse.Namespace) -> int:
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import create_empty

    _prepare(args)
    path = _run(lambda: create_empty(args.database, args.dir, args.name))
    _out(f"Created empty migration: {path}")
    return EXIT_OK


# -- dbcheck -------------------------------------------------------------------------------------------------


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return number


def _add_dbcheck(parser: argparse.ArgumentParser) -> None:
    add_database_option(parser)
    add_app_option(parser)
    parser.add_argument(
        "--dir",
        metavar="PATH",
        help="migrations folder whose revisions not applied yet are linted too (default: [tool.matrx-orm] "
        "migrations in pyproject.toml, else ./migrations; skipped when it does not exist)",
    )
    _add_scope(parser)
    health = parser.add_argument_group("connection health (--health: the models are not compared)")
    health.add_argument(
        "--health",
        action="store_true",
        help="only check that the database answers: latency, server version, primary or replica, "
        "extensions; exit 0 when healthy, 1 when not",
    )
    health.add_argument(
        "--database-url",
        metavar="URL",
        type=postgres_url,
        help="with --health: check this PostgreSQL database instead of a project your app registers",
    )
    health.add_argument(
        "--timeout",
        type=_positive_float,
        default=2.0,
        metavar="SECONDS",
        help="with --health: give up after this many seconds (default: 2)",
    )


def _run_dbcheck(args: argparse.Namespace) -> int:
    if args.health:
        return _run_health(args)
    if args.database_url:
        raise UsageError("--database-url only applies to dbcheck --health")
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import dbcheck

    _prepare(args)
    result = _run(
        lambda: dbcheck(
            args.database,
            include_tables=args.include_tables,
            exclude_tables=args.exclude_tables,
            allow_drops=args.allow_drops,
            migrations_dir=args.dir,
        )
    )
    for table in result.unmanaged_tables:
        _out(f"  note: table {table} has no model (ignored; --allow-drops counts it as a difference)")
    code = EXIT_OK
    if result.in_sync:
        _out(f"Models and database {args.database!r} are in sync.")
    else:
        _out(f"Models and database {args.database!r} differ ({len(result.differences)}):")
        for line in result.differences:
            _out(f"  {line}")
        code = EXIT_DIFFERENCES
    if result.lint is not None and result.lint.checked:
        _out(f"Revisions not applied yet: {', '.join(result.lint.checked)}")
        unsafe = _print_lint(result.lint)
        code = code or unsafe
    return code


# -- lint ----------------------------------------------------------------------------------------------------


def _print_lint(report: LintReport) -> int:
    """Print ``report`` (one line per unsafe operation, then a summary); the exit code it means."""
    for finding in report.findings:
        _out(f"  {finding.describe()}")
    for note in report.notes:
        _out(f"  note: {note}")
    ignored = f" ({len(report.ignored)} ignored by lint-ignore comments)" if report.ignored else ""
    if report.ok:
        _out(f"Lint: {len(report.checked)} revision(s), no unsafe operation{ignored}.")
        return EXIT_OK
    _out(f"Lint: {len(report.checked)} revision(s), {len(report.findings)} unsafe operation(s){ignored}.")
    return EXIT_UNSAFE


def _add_lint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "revisions",
        nargs="*",
        metavar="REVISION",
        help="revision ids (0003), file names (0003_add_index) or paths; default: every revision of the folder",
    )
    _add_common(parser)


def _run_lint(args: argparse.Namespace) -> int:
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import lint_migrations

    resolve_project(args, need_database=False)
    report = lint_migrations(args.dir, args.revisions or None, database=args.database)
    return _print_lint(report)


def _run_health(args: argparse.Namespace) -> int:
    """``dbcheck --health``: check the connection only (the app is imported to find the project, if any)."""
    if args.include_tables or args.exclude_tables or args.allow_drops:
        raise UsageError(
            "--health checks the connection only; drop --include-tables/--exclude-tables/--allow-drops"
        )
    database = register_target(args)
    status = _run(lambda: health_check(database, timeout=args.timeout))
    for line in _health_lines(database, status):
        _out(line)
    return EXIT_OK if status.ok else EXIT_FAILURE


def _health_lines(database: str, status: HealthStatus) -> list[str]:
    """The readable lines ``dbcheck --health`` prints for ``status``."""
    if not status.ok:
        return [f"Database {database!r}: NOT OK", f"  error:      {status.error}"]
    role = "replica (in recovery)" if status.in_recovery else "primary"
    extensions = ", ".join(f"{name} {version}" for name, version in sorted(status.extensions.items()))
    return [
        f"Database {database!r}: OK",
        f"  latency:    {status.latency_ms or 0:.1f} ms",
        f"  server:     PostgreSQL {status.server_version}",
        f"  role:       {role}",
        f"  extensions: {extensions or '(none)'}",
    ]


# -- migrate_and_rebuild -------------------------------------------------------------------------------------


def _add_migrate_and_rebuild(parser: argparse.ArgumentParser) -> None:
    _add_migrate(parser)
    parser.add_argument("--output-dir", metavar="PATH", help="where the regenerated models go")


def _run_migrate_and_rebuild(args: argparse.Namespace) -> int:
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import migrate_and_rebuild

    _prepare(args)
    outcome = _run(
        lambda: migrate_and_rebuild(
            args.database, args.dir, output_dir=args.output_dir, allow_modified=args.allow_modified
        )
    )
    for name in outcome["applied"]:
        _out(f"  Applied: {name}")
    _out(f"Applied {len(outcome['applied'])} migration(s).")
    _out(
        "Models regenerated."
        if outcome["models_regenerated"]
        else "Models not regenerated: " + str(outcome["codegen"])
    )
    return EXIT_OK


# -- convert_legacy ------------------------------------------------------------------------------------------


def _run_convert_legacy(args: argparse.Namespace) -> int:
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations import convert_legacy

    _prepare(args)
    names = _run(lambda: convert_legacy(args.database, args.dir))
    for name in names:
        _out(f"  Converted: {name}")
    _out(f"Converted {len(names)} legacy migration(s)." if names else "No legacy migrations to convert.")
    return EXIT_OK


# -- the table -----------------------------------------------------------------------------------------------

_EPILOG = (
    "The database must be registered by your app: pass --app MODULE, set MATRX_ORM_APP=MODULE, or put "
    '[tool.matrx-orm] app = "MODULE" (with database = "NAME" and migrations = "PATH", so no flag is needed) '
    "in pyproject.toml."
)


def _command(
    name: str,
    help: str,
    add: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    description: str | None = None,
) -> Command:
    return Command(name=name, help=help, add_arguments=add, run=run, description=description, epilog=_EPILOG)


def migration_commands() -> list[Command]:
    """The :class:`~matrx_orm.cli.Command` entries of the migration subcommands."""
    return [
        _command(
            "makemigrations",
            "write a revision for the differences between the models and the database",
            _add_makemigrations,
            _run_makemigrations,
            "Compare the models with the database (Alembic autogenerate) and write a new revision file to "
            "DIR/versions; prints 'No changes detected.' when there is nothing to do. Tables in the database "
            "with no model are reported, never dropped unless --allow-drops. A NOT NULL column added to an "
            "existing table is filled from the field's default; --rename keeps the data of a renamed column "
            "or table.",
        ),
        _command(
            "migrate",
            "apply the pending revisions",
            _add_migrate,
            _run_migrate,
            "Apply the pending revisions, each in its own transaction, under a PostgreSQL advisory lock.",
        ),
        _command("rollback", "roll back the last N applied revisions", _add_rollback, _run_rollback),
        _command("status", "show applied, pending and modified revisions", _add_common, _run_status),
        _command(
            "create_empty",
            "write a blank revision for hand-written SQL",
            _add_create_empty,
            _run_create_empty,
        ),
        _command(
            "dbcheck",
            "exit 3 when the models and the database differ (a pre-deploy check)",
            _add_dbcheck,
            _run_dbcheck,
            "Compare the models with the database without writing anything, and lint the revisions not "
            f"applied yet. Exit codes: 0 in sync, {EXIT_DIFFERENCES} differences found, {EXIT_UNSAFE} unsafe "
            "operations in the revisions not applied yet, 1 the check could not run, 2 bad usage. With --health, "
            "only check the connection (latency, server version, primary or replica, extensions): exit 0 "
            "when the database answers, 1 when it does not.",
        ),
        _command(
            "lint",
            f"report revision operations that lock or rewrite a busy table (exit {EXIT_UNSAFE} when any)",
            _add_lint,
            _run_lint,
            "Read the operations of the revisions (all, or the REVISIONs given) without touching the "
            "database and report each one that blocks or rewrites a busy table, with the safe alternative: "
            "CREATE INDEX without CONCURRENTLY, volatile defaults, SET NOT NULL without a validated CHECK, "
            "foreign keys without NOT VALID, type changes that rewrite, dropping or renaming what the models "
            "still use, enum ADD VALUE in a transaction. '# matrx-orm: lint-ignore RULE' on an operation "
            f"silences that rule for it. Exit codes: 0 none found, {EXIT_UNSAFE} unsafe operations found, "
            "1 the lint could not run, 2 bad usage.",
        ),
        _command(
            "convert_legacy",
            "turn old matrx-orm migration files (async up/down) into Alembic revisions, once",
            _add_common,
            _run_convert_legacy,
            "Convert the old-format files of DIR (dependencies = [...], async def up(db) / down(db)) into "
            "Alembic revisions in DIR/versions. Those recorded in an existing _matrx_migrations table are "
            "marked applied and never re-run.",
        ),
        _command(
            "migrate_and_rebuild",
            "apply the pending revisions, then regenerate the models from the database",
            _add_migrate_and_rebuild,
            _run_migrate_and_rebuild,
        ),
    ]
