"""The ``matrx-orm`` command line: :func:`main`, :func:`build_parser` and the table :data:`COMMANDS`.

This package owns everything about the command line: parsing, exit codes, error lines and the subcommands
(:mod:`.options` shared pieces, :mod:`.migrations` the migration commands, :mod:`.generate` the code
generator, :mod:`.demo` / :mod:`.demo_tour` the guided tour). It may import the rest of :mod:`matrx_orm`;
nothing in :mod:`matrx_orm` imports it. Its submodules import each other (never this ``__init__``).

Every subcommand is a :class:`Command`: a name, a one-line help, a function that adds its options to an
``argparse`` parser and a function that runs it and returns an exit code. Adding a command is one small
``_add_*``/``_run_*`` pair plus one entry in the table; options several commands share (``--database``,
``--dir``, ``--app``) have helpers in :mod:`.options`.

Exit codes: 0 success, 1 the command failed (database unreachable, migration error, ...), 2 bad usage
(unknown command or option, invalid value), 3 ``dbcheck`` found differences, 4 unsafe migration
operations found (``lint``), 130 interrupted. Failures print one line,
``matrx-orm: error: ...``, on stderr; ``--traceback`` (or ``MATRX_ORM_TRACEBACK=1``) shows the full traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import traceback
from collections.abc import Callable

from .. import ORMException, __version__
from .generate import generate_commands
from .migrations import migration_commands
from .options import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    TRACEBACK_ENV,
    Command,
    UsageError,
    connection_failure_line,
    postgres_url,
)
from .shell import SHELL_COMMAND

__all__ = ["COMMANDS", "Command", "UsageError", "build_parser", "main"]


# -- demo -----------------------------------------------------------------------------------------------------


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        type=postgres_url,
        help="run against this PostgreSQL database instead of an embedded server; the demo creates its "
        "two tables (matrx_demo_author, matrx_demo_book) there and drops them afterwards",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data directory of the embedded server (default: a per-user cache directory)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the demo tables and rows at the end")


def _run_demo(args: argparse.Namespace) -> int:
    if args.database_url and args.data_dir:
        raise UsageError("--data-dir only applies to the embedded server; drop it or --database-url")
    # in-function: the demo defines its models when imported; only 'matrx-orm demo' needs them
    from .demo import run_demo

    asyncio.run(run_demo(args.database_url, data_dir=args.data_dir, keep=args.keep))
    return EXIT_OK


DEMO_COMMAND = Command(
    name="demo",
    help="walk through the ORM on a throwaway database",
    description="Start an embedded PostgreSQL server (or use --database-url), create two small tables "
    "and show creating, querying, updating, upserting and deleting rows, one line per step.",
    epilog="Without --database-url this needs: pip install 'matrx-orm[embedded]'",
    add_arguments=_add_demo,
    run=_run_demo,
)

#: Every subcommand, in the order ``matrx-orm --help`` lists them.
COMMANDS: list[Command] = [DEMO_COMMAND, *migration_commands(), *generate_commands(), SHELL_COMMAND]


# -- parser and entry point -----------------------------------------------------------------------------------


def _traceback_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--traceback",
        action="store_true",
        default=argparse.SUPPRESS,
        help=f"show the full traceback when the command fails (or set {TRACEBACK_ENV}=1)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The ``matrx-orm`` parser with one subparser per entry of :data:`COMMANDS`."""
    common = _traceback_parent()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="matrx-orm: async PostgreSQL ORM (SQLAlchemy Core, asyncpg, Alembic, pgvector).",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            epilog=command.epilog,
            parents=[common],
        )
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def _one_line(exc: BaseException) -> str:
    """A single-line description of ``exc`` (first line of its message; the type when there is none)."""
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message.strip() else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = lines[0]
    if not isinstance(exc, ORMException | UsageError):
        first = f"{type(exc).__name__}: {first}"
    if len(lines) > 1:
        first += f" (more with --traceback or {TRACEBACK_ENV}=1)"
    return first


def _fail(message: str, show_traceback: bool, code: int) -> int:
    if show_traceback:
        traceback.print_exc()
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _wants_traceback(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "traceback", False)) or os.environ.get(TRACEBACK_ENV, "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and argparse errors
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    show_traceback = _wants_traceback(args)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    try:
        return handler(args)
    except UsageError as exc:
        return _fail(str(exc), show_traceback, EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # ORMException, a missing optional dependency, OSError, anything unexpected
        return _fail(connection_failure_line(_one_line(exc), exc, args), show_traceback, EXIT_FAILURE)
