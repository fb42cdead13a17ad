"""What one migration command passes to ``env.py`` (through ``alembic.config.Config.attributes``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config

from ..exceptions import ConfigurationError
from .autogen import AutogenHooks
from .discovery import find_app_modules, import_app_modules, read_project, require_database
from .renames import Rename
from .scope import TableFilter

__all__ = ["SETTINGS_KEY", "MigrationSettings", "settings_from_config"]

SETTINGS_KEY = "matrx_orm.settings"
#: ``alembic.ini`` options (section ``[alembic]``) the folder's ``env.py`` reads when run by plain Alembic
INI_DATABASE = "matrx_orm.database"
INI_APP = "matrx_orm.app"
INI_PROJECT_ROOT = "matrx_orm.project_root"

_TRUE = ("1", "true", "yes", "on")


@dataclass
class MigrationSettings:
    """Options of one run of ``env.py``."""

    database: str
    command: str = "upgrade"  # upgrade | downgrade | stamp | revision | check
    table_filter: TableFilter = field(default_factory=TableFilter)
    allow_drops: bool = False
    allow_modified: bool = False
    autogenerate: bool = False
    connection: Any = None  # a sync sqlalchemy Connection lent by the async command, else None
    hooks: AutogenHooks | None = None
    #: ``makemigrations --rename``: renames generated instead of a drop and an add
    renames: list[Rename] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)

    @property
    def applies_revisions(self) -> bool:
        return self.command in ("upgrade", "downgrade", "stamp")


def _x_arguments(config: Config) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in getattr(config.cmd_opts, "x", None) or []:
        key, _, value = str(item).partition("=")
        values[key.strip()] = value.strip()
    return values


def _command_name(config: Config) -> str:
    cmd = getattr(config.cmd_opts, "cmd", None)
    if isinstance(cmd, tuple | list) and cmd:
        return str(getattr(cmd[0], "__name__", "upgrade"))
    return "upgrade"


def settings_from_config(config: Config) -> MigrationSettings:
    """The settings of a run started by plain ``alembic`` (not by matrx-orm): from ``alembic.ini``/``-x``.

    Imports the app (``-x app=``, ``matrx_orm.app`` in the ini, ``MATRX_ORM_APP`` or ``[tool.matrx-orm] app``) so
    the database is registered and the models are defined; the database is ``-x database=``,
    ``matrx_orm.database`` in the ini or ``[tool.matrx-orm] database``.
    """
    existing = config.attributes.get(SETTINGS_KEY)
    if isinstance(existing, MigrationSettings):
        return existing
    xargs = _x_arguments(config)
    here = Path(config.config_file_name).resolve().parent if config.config_file_name else Path.cwd()
    root_option = config.get_main_option(INI_PROJECT_ROOT)
    root = (here / root_option).resolve() if root_option else None
    project = read_project(root or Path.cwd())
    app_option = xargs.get("app") or config.get_main_option(INI_APP) or ""
    if app_option:
        modules, source, pyproject_root = (
            [m.strip() for m in app_option.split(",") if m.strip()],
            "alembic.ini",
            None,
        )
    else:
        modules, source, pyproject_root = find_app_modules(project=project)
    import_app_modules(modules, source, root or pyproject_root)
    database = xargs.get("database") or config.get_main_option(INI_DATABASE) or project.database or ""
    if not database:
        raise ConfigurationError(
            f"no database named for this migrations folder: set {INI_DATABASE} = NAME in alembic.ini, "
            '[tool.matrx-orm] database = "NAME" in pyproject.toml, or pass -x database=NAME'
        )
    require_database(database, source)
    settings = MigrationSettings(
        database=database,
        command=_command_name(config),
        allow_modified=xargs.get("allow_modified", "").lower() in _TRUE,
        allow_drops=xargs.get("allow_drops", "").lower() in _TRUE,
    )
    settings.autogenerate = settings.command == "revision" and bool(
        getattr(config.cmd_opts, "autogenerate", False)
    )
    if settings.command == "check":
        settings.autogenerate = True
    config.attributes[SETTINGS_KEY] = settings
    return settings
