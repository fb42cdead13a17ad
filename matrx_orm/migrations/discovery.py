"""Finding the user's project: the module(s) that call ``register_database()`` and define the models, the
default database project and the migrations folder.

``[tool.matrx-orm]`` in the nearest ``pyproject.toml`` from the current directory upwards
(:func:`read_project`)::

    [tool.matrx-orm]
    app = "models"                 # module(s) to import: a string or a list
    database = "main"              # the database project commands use by default
    migrations = "migrations"      # the migrations folder, relative to the pyproject.toml's folder
    skip_tables = ["audit_log"]    # tables 'matrx-orm generate' never writes models for

The app is looked up in this order: ``--app`` options, the ``MATRX_ORM_APP`` environment variable
(comma-separated), ``[tool.matrx-orm] app``. The current directory (and the ``pyproject.toml``'s directory) are
importable.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import get_all_database_project_names, get_database_config
from ..exceptions import ConfigurationError

__all__ = [
    "APP_ENV",
    "HOW_TO_CONFIGURE",
    "PROJECT_KEYS",
    "ProjectSettings",
    "find_app_modules",
    "import_app_modules",
    "missing_database_message",
    "read_project",
    "require_database",
]

APP_ENV = "MATRX_ORM_APP"
HOW_TO_CONFIGURE = (
    "Tell matrx-orm which module registers your databases and imports your models: pass --app "
    f'your_package.db, set {APP_ENV}=your_package.db, or add [tool.matrx-orm] app = "your_package.db" '
    "to pyproject.toml."
)
#: the keys ``[tool.matrx-orm]`` may hold
PROJECT_KEYS = ("app", "database", "migrations", "skip_tables")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class ProjectSettings:
    """``[tool.matrx-orm]`` of the nearest ``pyproject.toml`` (all empty when there is none)."""

    pyproject: Path | None = None
    app: tuple[str, ...] = ()
    database: str | None = None
    #: absolute path of the migrations folder (the key is relative to the pyproject.toml's folder)
    migrations: Path | None = None
    skip_tables: tuple[str, ...] = ()

    @property
    def root(self) -> Path | None:
        """The folder of the ``pyproject.toml`` (made importable)."""
        return self.pyproject.parent if self.pyproject else None

    @property
    def source(self) -> str:
        return f"[tool.matrx-orm] in {self.pyproject}"


def _names(value: Any, key: str, pyproject: Path) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return tuple(_split(value))
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    raise ConfigurationError(f"[tool.matrx-orm] {key} in {pyproject} must be a name or a list of names")


def _text(value: Any, key: str, pyproject: Path) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ConfigurationError(f"[tool.matrx-orm] {key} in {pyproject} must be a non-empty string")


def _check_keys(table: dict[str, Any], pyproject: Path) -> None:
    for key in table:
        if key not in PROJECT_KEYS:
            close = difflib.get_close_matches(key, PROJECT_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"unknown key {key!r} in [tool.matrx-orm] of {pyproject} (expected {', '.join(PROJECT_KEYS)})"
                + hint
            )


def read_project(cwd: Path | None = None) -> ProjectSettings:
    """``[tool.matrx-orm]`` of the nearest ``pyproject.toml`` from ``cwd`` (default: the current directory)
    upwards; a malformed table raises :class:`ConfigurationError` naming the file and the key."""
    pyproject = _pyproject((cwd or Path.cwd()).resolve())
    if pyproject is None:
        return ProjectSettings()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {pyproject}: {exc}") from None
    table = data.get("tool", {}).get("matrx-orm")
    if table is None:
        return ProjectSettings(pyproject=pyproject)
    if not isinstance(table, dict):
        raise ConfigurationError(f"[tool.matrx-orm] in {pyproject} must be a table")
    _check_keys(table, pyproject)
    migrations = table.get("migrations")
    return ProjectSettings(
        pyproject=pyproject,
        app=_names(table["app"], "app", pyproject) if "app" in table else (),
        database=_text(table["database"], "database", pyproject) if "database" in table else None,
        migrations=(pyproject.parent / _text(migrations, "migrations", pyproject)).resolve()
        if migrations is not None
        else None,
        skip_tables=_names(table["skip_tables"], "skip_tables", pyproject) if "skip_tables" in table else (),
    )


def find_app_modules(
    explicit: Sequence[str] = (), *, cwd: Path | None = None, project: ProjectSettings | None = None
) -> tuple[list[str], str, Path | None]:
    """The app modules to import, where they came from (for messages) and the folder to make importable."""
    if explicit:
        return [m for value in explicit for m in _split(value)], "--app", None
    from_env = os.environ.get(APP_ENV, "")
    if from_env.strip():
        return _split(from_env), APP_ENV, None
    project = project if project is not None else read_project(cwd)
    if project.app:
        return list(project.app), f"[tool.matrx-orm] app in {project.pyproject}", project.root
    return [], "", None


def missing_database_message(cwd: Path | None = None) -> str:
    """What to add when no database project was named anywhere (one line)."""
    folder = (cwd or Path.cwd()).resolve()
    app = "models" if (folder / "models.py").is_file() else "your_package.db"
    return (
        "no database project given: pass --database NAME, or add to pyproject.toml "
        f'[tool.matrx-orm] database = "NAME" and app = "{app}" (the module that calls register_database() '
        "and imports your models)"
    )


def _make_importable(folder: Path | None) -> None:
    for path in (str(Path.cwd()), str(folder) if folder else None):
        if path and path not in sys.path:
            sys.path.insert(0, path)


def import_app_modules(modules: Sequence[str], source: str = "--app", root: Path | None = None) -> None:
    """Import ``modules``; a module that cannot be found raises :class:`ConfigurationError` naming its source."""
    _make_importable(root)
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                raise ConfigurationError(
                    f"cannot import app module {module!r} (from {source}): no module named {exc.name!r}. "
                    "Run matrx-orm from your project's root folder or fix the module path."
                ) from None
            raise


def require_database(database: str, source: str) -> None:
    """Raise a :class:`ConfigurationError` explaining the setup when ``database`` is not registered."""
    try:
        get_database_config(database)
    except ConfigurationError:
        registered = get_all_database_project_names()
        listing = ", ".join(repr(n) for n in registered) if registered else "none"
        if source:
            raise ConfigurationError(
                f"database {database!r} is not registered after importing the app (from {source}); registered "
                f"databases: {listing}. Call register_database(DatabaseProjectConfig(name={database!r}, ...)) "
                "in that module."
            ) from None
        raise ConfigurationError(
            f"database {database!r} is not registered (registered databases: {listing}). {HOW_TO_CONFIGURE}"
        ) from None
