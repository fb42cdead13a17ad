"""Finding the user's app: the module(s) that call ``register_database()`` and define the models.

Looked up in this order: ``--app`` options, the ``MATRX_ORM_APP`` environment variable (comma-separated),
``[tool.matrx-orm] app = "..."`` (a string or a list) in the nearest ``pyproject.toml`` from the current
directory upwards. The current directory (and the ``pyproject.toml``'s directory) are importable.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from ..config import get_all_database_project_names, get_database_config
from ..exceptions import ConfigurationError

__all__ = ["APP_ENV", "HOW_TO_CONFIGURE", "find_app_modules", "import_app_modules", "require_database"]

APP_ENV = "MATRX_ORM_APP"
HOW_TO_CONFIGURE = (
    "Tell matrx-orm which module registers your databases and imports your models: pass --app "
    f'your_package.db, set {APP_ENV}=your_package.db, or add [tool.matrx-orm] app = "your_package.db" '
    "to pyproject.toml."
)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def find_app_modules(
    explicit: Sequence[str] = (), *, cwd: Path | None = None
) -> tuple[list[str], str, Path | None]:
    """The app modules to import, where they came from (for messages) and the folder to make importable."""
    if explicit:
        return [m for value in explicit for m in _split(value)], "--app", None
    from_env = os.environ.get(APP_ENV, "")
    if from_env.strip():
        return _split(from_env), APP_ENV, None
    pyproject = _pyproject((cwd or Path.cwd()).resolve())
    if pyproject is not None:
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read {pyproject}: {exc}") from None
        app = data.get("tool", {}).get("matrx-orm", {}).get("app")
        if isinstance(app, str) and app.strip():
            return _split(app), f"[tool.matrx-orm] app in {pyproject}", pyproject.parent
        if isinstance(app, list) and all(isinstance(a, str) for a in app):
            return (
                [a.strip() for a in app if a.strip()],
                f"[tool.matrx-orm] app in {pyproject}",
                pyproject.parent,
            )
        if app is not None:
            raise ConfigurationError(
                f"[tool.matrx-orm] app in {pyproject} must be a module name or a list of them"
            )
    return [], "", None


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
