"""``matrx-orm generate``: write models and managers from a database (listed in :data:`matrx_orm.cli.COMMANDS`)."""

from __future__ import annotations

import argparse

from .. import DatabaseProjectConfig, register_database
from .options import EXIT_OK, Command, UsageError, add_app_option, postgres_url, resolve_project

__all__ = ["generate_commands"]


def _add_generate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        "-d",
        metavar="NAME",
        help="registered database project to introspect (default: [tool.matrx-orm] database in "
        "pyproject.toml); with --database-url, the name the generated models get as _database (default "
        "'default')",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        type=postgres_url,
        help="introspect this PostgreSQL database directly instead of a project your app registers",
    )
    add_app_option(parser)
    parser.add_argument(
        "--output-dir",
        "-o",
        metavar="PATH",
        help="folder (a Python package) to write into (default: ./database/<alias or name>)",
    )
    parser.add_argument(
        "--schema",
        action="append",
        metavar="SCHEMA",
        help="schema to introspect (repeatable; default: public plus the project's additional_schemas)",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--include-tables", nargs="+", metavar="TABLE", help="only these tables")
    scope.add_argument("--exclude-tables", nargs="+", metavar="TABLE", help="every table except these")
    parser.add_argument("--typescript", action="store_true", help="also write typescript/entities.ts")
    parser.add_argument("--no-managers", action="store_true", help="write models.py only")
    parser.add_argument(
        "--no-payload-m2m",
        action="store_true",
        help="no _many_to_many entries through junction tables that have extra columns",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line on stderr")


def _register(args: argparse.Namespace) -> str:
    """Import the app (or register --database-url) and return the project name to introspect.

    With ``--database-url`` the project is registered under ``--database`` (default ``"default"``), the name
    the generated models carry as ``_database``.
    """
    if args.database_url:
        if args.app:
            raise UsageError("--database-url and --app exclude each other")
        name = args.database or "default"
        register_database(DatabaseProjectConfig(name=name, url=args.database_url))
        return str(name)
    resolve_project(args)
    return str(args.database)


def _skip_tables() -> tuple[str, ...]:
    """``[tool.matrx-orm] skip_tables`` of pyproject.toml."""
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations.discovery import read_project

    return read_project().skip_tables


def _run_generate(args: argparse.Namespace) -> int:
    database = _register(args)
    # in-function: the code generator (matrx_orm.schema_builder) is only needed when 'generate' runs
    from ..schema_builder import run_generate_models_sync

    result = run_generate_models_sync(
        database,
        args.output_dir,
        schemas=args.schema,
        include_tables=args.include_tables,
        exclude_tables=args.exclude_tables,
        skip_tables=_skip_tables(),
        managers=not args.no_managers,
        typescript=args.typescript,
        m2m_payload_junctions=not args.no_payload_m2m,
        progress=False if args.quiet else None,
    )
    print(result.summary(), flush=True)
    for path in result.written:
        print(f"  wrote {path}")
    for path in result.removed:
        print(f"  removed {path}")
    for note in result.notes:
        print(f"  note: {note}")
    return EXIT_OK


def generate_commands() -> list[Command]:
    """The :class:`~matrx_orm.cli.Command` entries of the schema builder (``generate``)."""
    return [
        Command(
            name="generate",
            help="write models.py and managers from an existing database",
            description="Introspect a database (public plus the project's additional_schemas) and write "
            "models.py, one manager per table (a generated base and your own file, created once) and "
            "optionally TypeScript entity definitions. Regenerating never overwrites your manager files. "
            "The migration bookkeeping tables (alembic_version, _matrx_migrations) and [tool.matrx-orm] "
            "skip_tables are never generated.",
            epilog="The database must be registered by your app (--app MODULE, MATRX_ORM_APP or "
            "[tool.matrx-orm] app in pyproject.toml; [tool.matrx-orm] database names the default project), "
            "or given directly with --database-url (the models then get _database = the --database name, "
            "'default' without it).",
            add_arguments=_add_generate,
            run=_run_generate,
        )
    ]
