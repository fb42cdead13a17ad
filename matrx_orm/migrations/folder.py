"""A migrations folder: created from ``alembic_templates/``, with an ``alembic.ini`` plain Alembic can use.

Layout::

    migrations/
        alembic.ini       script_location = %(here)s, matrx_orm.database = NAME (plain ``alembic`` reads it)
        env.py            two lines calling matrx_orm.migrations.runner.run_env()
        script.py.mako    the revision file template
        README
        versions/         0001_initial.py, 0002_add_posts.py, ...
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from ..exceptions import ConfigurationError, MigrationError
from .settings import INI_APP, INI_DATABASE, INI_PROJECT_ROOT, SETTINGS_KEY, MigrationSettings

__all__ = [
    "FolderSettings",
    "alembic_config",
    "ensure_folder",
    "folder_settings",
    "next_revision_id",
    "script_directory",
    "template_dir",
]

TEMPLATE_FILES = ("env.py", "script.py.mako", "README")
FILE_TEMPLATE = "%%(rev)s_%%(slug)s"


def template_dir() -> Path:
    """Where ``alembic_templates/`` is: inside the installed package (wheel) or at the repository root."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "alembic_templates", package.parent / "alembic_templates"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigurationError(
        "matrx-orm's alembic_templates folder is missing from this installation; reinstall matrx-orm"
    )


def _ini_text(database: str, app: str, project_root: str) -> str:
    lines = [
        "# Written by matrx-orm. Plain Alembic works here too:",
        "#   alembic -c <this file> upgrade head     (or cd into this folder and run: alembic upgrade head)",
        "[alembic]",
        "script_location = %(here)s",
        f"file_template = {FILE_TEMPLATE}",
        "prepend_sys_path = .",
        "path_separator = os",
        f"{INI_DATABASE} = {database}",
        f"{INI_APP} = {app}",
        f"{INI_PROJECT_ROOT} = {project_root}",
        "",
        "[loggers]",
        "keys = root,sqlalchemy,alembic",
        "",
        "[handlers]",
        "keys = console",
        "",
        "[formatters]",
        "keys = generic",
        "",
        "[logger_root]",
        "level = WARNING",
        "handlers = console",
        "qualname =",
        "",
        "[logger_sqlalchemy]",
        "level = WARNING",
        "handlers =",
        "qualname = sqlalchemy.engine",
        "",
        "[logger_alembic]",
        "level = INFO",
        "handlers =",
        "qualname = alembic",
        "",
        "[handler_console]",
        "class = StreamHandler",
        "args = (sys.stderr,)",
        "level = NOTSET",
        "formatter = generic",
        "",
        "[formatter_generic]",
        "format = %(levelname)-5.5s [%(name)s] %(message)s",
        "",
    ]
    return "\n".join(lines)


def ensure_folder(
    directory: str | Path,
    database: str,
    app_modules: list[str] | None = None,
    project_root: Path | None = None,
) -> Path:
    """Create the migrations folder from the template where it is missing; returns its absolute path.

    ``project_root`` (default: the current directory) is written to ``alembic.ini`` relative to the folder, so
    plain ``alembic`` can import the app from anywhere. An existing ``env.py``/``alembic.ini`` is left alone
    (you may have edited them).
    """
    folder = Path(directory).resolve()
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"migrations folder {folder} exists and is not a directory")
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    source = template_dir()
    for name in TEMPLATE_FILES:
        target = folder / name
        if not target.exists():
            shutil.copyfile(source / name, target)
    ini = folder / "alembic.ini"
    if not ini.exists():
        root = os.path.relpath((project_root or Path.cwd()).resolve(), folder)
        ini.write_text(_ini_text(database, ",".join(app_modules or []), root), encoding="utf-8")
    return folder


@dataclass(frozen=True)
class FolderSettings:
    """What a folder's ``alembic.ini`` says about its project (all empty without one)."""

    ini: Path | None = None
    database: str | None = None
    app: tuple[str, ...] = ()
    #: the folder the app is imported from (``matrx_orm.project_root``, relative to the ini's folder)
    project_root: Path | None = None


def folder_settings(folder: str | Path) -> FolderSettings:
    """``matrx_orm.database``, ``matrx_orm.app`` and ``matrx_orm.project_root`` of ``folder/alembic.ini``."""
    ini = Path(folder).resolve() / "alembic.ini"
    if not ini.is_file():
        return FolderSettings()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigurationError(f"cannot read {ini}: {exc}") from None

    def option(name: str) -> str:
        return parser.get("alembic", name, fallback="").strip()

    root = option(INI_PROJECT_ROOT)
    return FolderSettings(
        ini=ini,
        database=option(INI_DATABASE) or None,
        app=tuple(m.strip() for m in option(INI_APP).split(",") if m.strip()),
        project_root=(ini.parent / root).resolve() if root else None,
    )


def alembic_config(folder: Path, settings: MigrationSettings) -> Config:
    """An Alembic ``Config`` for ``folder`` carrying ``settings`` to ``env.py`` (quiet: no stdout chatter)."""
    ini = folder / "alembic.ini"
    options = argparse.Namespace(quiet=True, x=[])
    config = Config(str(ini) if ini.is_file() else None, cmd_opts=options)
    config.set_main_option("script_location", str(folder))
    if not config.get_main_option("file_template"):
        config.set_main_option("file_template", FILE_TEMPLATE)
    config.attributes[SETTINGS_KEY] = settings
    return config


def script_directory(folder: Path) -> ScriptDirectory:
    """The Alembic script directory of an initialised folder."""
    if not (folder / "env.py").is_file():
        raise MigrationError(
            f"{folder} is not a migrations folder (no env.py); create one with "
            "'matrx-orm makemigrations' or 'matrx-orm create_empty'"
        )
    config = Config()
    config.set_main_option("script_location", str(folder))
    return ScriptDirectory.from_config(config)


_NUMBERED = re.compile(r"^(\d+)")


def next_revision_id(script: ScriptDirectory) -> str:
    """``0001``, ``0002``, ...: one more than the highest numbered revision id in the folder."""
    highest = 0
    taken = set()
    for revision in script.walk_revisions():
        taken.add(revision.revision)
        match = _NUMBERED.match(revision.revision)
        if match:
            highest = max(highest, int(match.group(1)))
    number = highest + 1
    while f"{number:04d}" in taken:
        number += 1
    return f"{number:04d}"
