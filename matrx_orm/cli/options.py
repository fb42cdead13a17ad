"""What every ``matrx-orm`` subcommand shares: :class:`Command`, :class:`UsageError`, exit codes, options.

Options several commands take (``--database``, ``--dir``, ``--app``, ``--database-url``) are added by the
``add_*`` helpers here, so they read the same everywhere; :func:`resolve_project` fills in the ones not given
from ``[tool.matrx-orm]`` in ``pyproject.toml`` (and the migrations folder's ``alembic.ini``). This module
imports nothing from the rest of :mod:`matrx_orm.cli`; the command modules import it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..config import DatabaseProjectConfig, get_connection_string
from ..exceptions import ConfigurationError, ConnectionError, map_database_error, mask_url_passwords

__all__ = [
    "EXIT_DIFFERENCES",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNSAFE",
    "EXIT_USAGE",
    "PROG",
    "TRACEBACK_ENV",
    "Command",
    "UsageError",
    "add_app_option",
    "add_database_option",
    "add_dir_option",
    "connection_failure_line",
    "import_app",
    "postgres_url",
    "resolve_project",
]

PROG = "matrx-orm"
TRACEBACK_ENV = "MATRX_ORM_TRACEBACK"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DIFFERENCES = 3  # dbcheck: the models and the database differ
EXIT_UNSAFE = 4  # lint, makemigrations --lint, dbcheck: a revision locks or rewrites a busy table
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """The command line is wrong (reported like an argparse error, exit code 2)."""


@dataclass(frozen=True)
class Command:
    """One ``matrx-orm`` subcommand: its options (``add_arguments``) and what it does (``run``, an exit code)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None
    epilog: str | None = None


def add_database_option(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    """``--database NAME``: the registered database project to work on (default from pyproject.toml)."""
    parser.add_argument(
        "--database",
        "-d",
        metavar="NAME",
        required=required,
        help="name of the registered database project (DatabaseProjectConfig.name; default: [tool.matrx-orm] "
        "database in pyproject.toml, else matrx_orm.database in the migrations folder's alembic.ini)",
    )


def add_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--dir PATH``: the migrations folder (default from pyproject.toml)."""
    parser.add_argument(
        "--dir",
        metavar="PATH",
        help="migrations folder (default: [tool.matrx-orm] migrations in pyproject.toml, else ./migrations)",
    )


def add_app_option(parser: argparse.ArgumentParser) -> None:
    """``--app MODULE``: modules to import first (they register databases and define models); repeatable."""
    parser.add_argument(
        "--app",
        metavar="MODULE",
        action="append",
        default=[],
        help="import MODULE first, so its register_database() calls and models are known (repeatable; "
        "default: MATRX_ORM_APP, else [tool.matrx-orm] app in pyproject.toml)",
    )


def import_app(app: Sequence[str], database: str) -> list[str]:
    """Find and import the user's app (``--app``, ``MATRX_ORM_APP``, pyproject) and check ``database``.

    Returns the imported module names; a ConfigurationError says how to configure what is missing.
    """
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations.discovery import find_app_modules, import_app_modules, require_database

    modules, source, root = find_app_modules(app)
    import_app_modules(modules, source, root)
    require_database(database, source)
    return modules


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def resolve_project(args: argparse.Namespace, *, need_database: bool = True) -> None:
    """Fill in what the flags left out, import the user's app and check the database is registered.

    ``args.dir``: ``--dir``, else ``[tool.matrx-orm] migrations``, else ``migrations``. ``args.database``:
    ``--database``, else ``[tool.matrx-orm] database``, else ``matrx_orm.database`` of the folder's
    ``alembic.ini``. The app: ``--app``, ``MATRX_ORM_APP``, ``[tool.matrx-orm] app``, the ini's
    ``matrx_orm.app``. Also sets ``args.app_modules`` and ``args.project_root``. Without a database (and
    ``need_database``) a :class:`UsageError` says what to add to pyproject.toml.
    """
    # in-function: matrx_orm.migrations imports Alembic (slow), which --help never needs
    from ..migrations.discovery import (
        find_app_modules,
        import_app_modules,
        missing_database_message,
        read_project,
        require_database,
    )

    # in-function: as above (the migrations package imports Alembic)
    from ..migrations.folder import FolderSettings, folder_settings

    project = read_project()
    if "dir" in args and args.dir is None:
        args.dir = _shown(project.migrations) if project.migrations else "migrations"
    ini = folder_settings(args.dir) if getattr(args, "dir", None) else FolderSettings()
    database = args.database or project.database or ini.database
    modules, source, root = find_app_modules(args.app, project=project)
    if not modules and ini.app:
        modules, source, root = list(ini.app), f"matrx_orm.app in {ini.ini}", ini.project_root
    if not database and need_database:
        raise UsageError(missing_database_message())
    import_app_modules(modules, source, root)
    if database:
        require_database(database, source)
    args.database = database
    args.app_modules = modules
    args.project_root = root or project.root


def postgres_url(value: str) -> str:
    """argparse type of ``--database-url``: a ``postgresql://`` / ``postgres://`` URL (a ``+driver`` is dropped)."""
    parts = urlsplit(value)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise argparse.ArgumentTypeError(f"expected a postgresql:// URL, got {mask_url_passwords(value)!r}")
    return parts._replace(scheme="postgresql").geturl()


def connection_failure_line(line: str, exc: BaseException, args: argparse.Namespace) -> str:
    """The error ``line`` of ``exc`` naming the database when ``exc`` means it could not be reached (and the
    line shows no URL yet), with every password masked."""
    if "://" not in line and isinstance(map_database_error(exc), ConnectionError):
        target = _connection_target(args)
        if target:
            line = f"cannot connect to {target}: {line}"
    return mask_url_passwords(line)


def _connection_target(args: argparse.Namespace) -> str | None:
    """``postgresql://user:****@host:port/db`` of the database the command works on, when known."""
    url = getattr(args, "database_url", None)
    if isinstance(url, str) and url:
        try:
            return DatabaseProjectConfig(name="cli", url=url).masked_url()
        except ConfigurationError:
            return mask_url_passwords(url)
    name = getattr(args, "database", None)
    if isinstance(name, str) and name:
        try:
            return get_connection_string(name)
        except ConfigurationError:
            return None
    return None
