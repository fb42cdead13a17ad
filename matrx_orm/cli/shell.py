"""``matrx-orm shell``: an interactive Python with top-level ``await``, the app imported and every registered
model in the namespace (listed in :data:`matrx_orm.cli.COMMANDS`).

IPython is used when it is installed (its ``autoawait`` runs every cell on one event loop); otherwise an
asyncio console like ``python -m asyncio``: the console reads lines in a thread while the event loop runs
in the main thread, so the connection pools live on one loop for the whole session. ``-c CODE`` runs one
piece of code (``await`` allowed) and exits, for scripts.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import code
import concurrent.futures
import contextlib
import inspect
import platform
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

import matrx_orm

from .. import F, Q, __version__, dispose_all, transaction
from ..config import get_all_database_project_names, get_connection_string
from ..meta.registry import all_models
from .options import EXIT_OK, Command, add_app_option, add_database_option, resolve_project

__all__ = ["SHELL_COMMAND", "run_code", "shell_namespace"]

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


# -- the namespace ----------------------------------------------------------------------------------------------


def shell_namespace() -> dict[str, Any]:
    """Every registered model by class name (the first one wins a clash), plus ``matrx_orm``, ``Q``, ``F``,
    ``transaction`` and ``asyncio``."""
    namespace: dict[str, Any] = {
        "__name__": "__console__",
        "asyncio": asyncio,
        "matrx_orm": matrx_orm,
        "Q": Q,
        "F": F,
        "transaction": transaction,
    }
    for model in all_models():
        namespace.setdefault(model.__name__, model)
    return namespace


def banner(modules: Sequence[str]) -> str:
    """What the interactive shell prints first: the databases, the models of each and the other names."""
    lines = [
        f"matrx-orm {__version__} shell (Python {platform.python_version()}); use 'await' directly, "
        "e.g. await Model.filter(...).all()",
        f"App: {', '.join(modules)}"
        if modules
        else "App: none found (pass --app MODULE, set "
        'MATRX_ORM_APP or add [tool.matrx-orm] app = "..." to pyproject.toml)',
    ]
    databases = get_all_database_project_names()
    lines.append("Databases:" if databases else "Databases: none registered")
    for name in databases:
        models = sorted(model.__name__ for model in all_models(name))
        lines.append(f"  {name}  {get_connection_string(name)}")
        lines.append(f"    models: {', '.join(models) if models else '(none)'}")
    lines.append("Also imported: matrx_orm, Q, F, transaction, asyncio")
    return "\n".join(lines)


# -- -c CODE --------------------------------------------------------------------------------------------------


def run_code(source: str, namespace: dict[str, Any]) -> None:
    """Run ``source`` (top-level ``await`` allowed) on a fresh event loop; a lone expression's value is
    printed (its ``repr``, unless it is None), as the interactive prompt would. Pools are closed after."""

    async def main() -> None:
        try:
            await _execute(source, namespace)
        finally:
            await dispose_all()

    asyncio.run(main())


async def _execute(source: str, namespace: dict[str, Any]) -> None:
    try:
        compiled = compile(source, "<shell -c>", "eval", flags=_FLAGS)
        expression = True
    except SyntaxError:
        compiled = compile(source, "<shell -c>", "exec", flags=_FLAGS)
        expression = False
    result = eval(compiled, namespace)  # noqa: S307 (the user's own code, as python -c runs it)
    if compiled.co_flags & inspect.CO_COROUTINE:
        result = await result
    if expression and result is not None:
        print(repr(result))


# -- the interactive console --------------------------------------------------------------------------------------


class AsyncConsole(code.InteractiveConsole):
    """``code.InteractiveConsole`` whose statements may ``await``: each runs as a task on ``loop`` (which
    runs in another thread) and the console waits for it."""

    def __init__(self, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(namespace)
        self.compile.compiler.flags |= _FLAGS
        self.loop = loop
        self.running: concurrent.futures.Future[Any] | None = None

    def runcode(self, code: types.CodeType) -> None:
        self.running = asyncio.run_coroutine_threadsafe(self._run(code), self.loop)
        try:
            self.running.result()
        except SystemExit:
            raise
        except concurrent.futures.CancelledError:
            self.write("\nKeyboardInterrupt\n")
        except BaseException:  # noqa: BLE001 (shown like the standard console shows it)
            self.showtraceback()
        finally:
            self.running = None

    async def _run(self, code: types.CodeType) -> None:
        result = types.FunctionType(code, self.locals)()
        if inspect.iscoroutine(result):
            await result

    def interrupt(self) -> None:
        """Ctrl-C: cancel the statement that is running, if any."""
        running = self.running
        if running is not None:
            running.cancel()


def _asyncio_console(namespace: dict[str, Any], text: str) -> None:
    """The console in a thread, the event loop in this one (so Ctrl-C reaches the loop)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    console = AsyncConsole(namespace, loop)
    with contextlib.suppress(ImportError):
        # in-function: line editing and history when the platform has readline (importing it enables them)
        import readline  # noqa: F401

    def interact() -> None:
        try:
            console.interact(banner=text, exitmsg="")
        finally:
            loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=interact, name="matrx-orm shell", daemon=True).start()
    while True:
        try:
            loop.run_forever()
        except KeyboardInterrupt:
            console.interrupt()
            continue
        break
    try:
        loop.run_until_complete(dispose_all())
    finally:
        loop.close()


def _ipython(namespace: dict[str, Any], text: str) -> bool:
    """Start IPython with ``namespace`` (False when it is not installed)."""
    try:
        # in-function: IPython is optional, and only the interactive shell uses it
        from IPython import start_ipython
        from traitlets.config import Config  # (installed with IPython)
    except ImportError:
        return False
    config = Config()
    config.TerminalInteractiveShell.banner2 = text + "\n"
    start_ipython(argv=[], user_ns=namespace, config=config)
    return True


# -- the command ---------------------------------------------------------------------------------------------------


def _add_shell(parser: argparse.ArgumentParser) -> None:
    add_app_option(parser)
    add_database_option(parser, required=False)
    parser.add_argument(
        "-c",
        "--command",
        metavar="CODE",
        help="run CODE (top-level await allowed; a lone expression's value is printed) and exit",
    )
    parser.add_argument(
        "--no-ipython",
        action="store_true",
        help="use the asyncio console even when IPython is installed",
    )


def _run_shell(args: argparse.Namespace) -> int:
    resolve_project(args, need_database=False)  # the app, as every command finds it; --database is checked
    namespace = shell_namespace()
    if args.command is not None:
        run_code(args.command, namespace)
        return EXIT_OK
    text = banner(args.app_modules)
    if args.no_ipython or not _ipython(namespace, text):
        _asyncio_console(namespace, text)
    sys.stdout.flush()
    return EXIT_OK


SHELL_COMMAND = Command(
    name="shell",
    help="interactive Python with top-level await and your models imported",
    description="Import the app (--app, MATRX_ORM_APP or [tool.matrx-orm] app in pyproject.toml), put every "
    "registered model in the namespace and start IPython when installed, else an asyncio console where "
    "'await' works at the prompt. With -c, run one piece of code and exit.",
    epilog="Example: matrx-orm shell --app myproject.db -c 'await Author.count()'",
    add_arguments=_add_shell,
    run=_run_shell,
)
