"""Old matrx-orm migration folders: files with ``dependencies = [...]``, ``async def up(db)`` and
``async def down(db)`` directly in the migrations folder.

:func:`convert_legacy` turns each of them, once, into an Alembic revision in ``versions/`` (the original code
kept verbatim, plus ``revision``/``down_revision`` and ``upgrade()``/``downgrade()`` that call ``up``/``down``
with a :class:`~matrx_orm.migrations.db.MigrationDB` bound to the revision's connection). Files already
recorded in an existing ``_matrx_migrations`` table are stamped as applied, never re-run.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context, op
from sqlalchemy.engine import Connection

from ..exceptions import MigrationError
from .commands import _folder, _on_connection
from .db import MigrationDB, drive
from .folder import alembic_config, ensure_folder, script_directory
from .settings import SETTINGS_KEY, MigrationSettings
from .state import ensure_state_table, read_applied, record_applied

__all__ = ["LegacyMigration", "convert_legacy", "find_legacy", "run_legacy"]

_SKIP = {"env.py", "__init__.py"}
_FOOTER_MARK = "# -- Alembic revision: converted by matrx-orm convert_legacy"


@dataclass(frozen=True)
class LegacyMigration:
    """One old-format migration file."""

    name: str
    path: Path
    dependencies: tuple[str, ...]


def _parse(path: Path) -> LegacyMigration | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise MigrationError(f"cannot parse legacy migration {path}: {exc}") from None
    functions = {n.name for n in tree.body if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef)}
    if "up" not in functions:
        return None
    dependencies: tuple[str, ...] = ()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "dependencies" for t in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise MigrationError(f"{path}: dependencies must be a literal list of names") from None
            dependencies = tuple(str(v) for v in value)
    return LegacyMigration(name=path.stem, path=path, dependencies=dependencies)


def _resolve(dependency: str, names: list[str], owner: str) -> str:
    if dependency in names:
        return dependency
    prefixed = [n for n in names if n.split("_", 1)[0] == dependency]  # matrx-orm wrote ["0001"] too
    if len(prefixed) == 1:
        return prefixed[0]
    raise MigrationError(f"legacy migration {owner!r} depends on {dependency!r}, which is not in the folder")


def find_legacy(folder: Path) -> list[LegacyMigration]:
    """The old-format files of ``folder``, dependencies first (names resolved; ties by name)."""
    found = [m for p in sorted(folder.glob("*.py")) if p.name not in _SKIP and (m := _parse(p)) is not None]
    names = [m.name for m in found]
    resolved = {
        m.name: LegacyMigration(m.name, m.path, tuple(_resolve(d, names, m.name) for d in m.dependencies))
        for m in found
    }
    ordered: list[LegacyMigration] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise MigrationError(f"legacy migrations depend on each other in a cycle: {' -> '.join(chain)}")
        state[name] = 1
        for dependency in resolved[name].dependencies:
            visit(dependency, (*chain, dependency))
        state[name] = 2
        ordered.append(resolved[name])

    for name in sorted(resolved):
        visit(name, (name,))
    return ordered


def _footer(migration: LegacyMigration) -> str:
    deps = migration.dependencies
    down = None if not deps else (deps[0] if len(deps) == 1 else deps)
    return (
        f"\n\n{_FOOTER_MARK} (original: {migration.path.name}) --\n"
        f"revision = {migration.name!r}\n"
        f"down_revision = {down!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        "    from matrx_orm.migrations.legacy import run_legacy\n\n"
        "    run_legacy(up)\n\n\n"
        "def downgrade() -> None:\n"
        "    from matrx_orm.migrations.legacy import run_legacy\n\n"
        "    run_legacy(globals().get('down'))\n"
    )


def run_legacy(function: Callable[[Any], Coroutine[Any, Any, Any]] | None) -> None:
    """Run a legacy ``up``/``down`` inside the current Alembic revision (its connection and transaction)."""

    if function is None:
        raise MigrationError("this converted legacy migration has no down(db); it cannot be rolled back")
    settings = context.config.attributes.get(SETTINGS_KEY)
    database = getattr(settings, "database", "") or "default"
    drive(function(MigrationDB.bound(database, op.get_bind())))


async def convert_legacy(database: str, migrations_dir: str | Path = "migrations") -> list[str]:
    """Convert the old-format files of ``migrations_dir`` into Alembic revisions (once); returns their names.

    Those already recorded in ``_matrx_migrations`` are stamped applied (with fresh checksums). The original
    files stay where they are; Alembic only reads ``versions/``.
    """

    folder = ensure_folder(_folder(migrations_dir, database), database)
    migrations = find_legacy(folder)
    versions = folder / "versions"
    existing = {r.revision for r in script_directory(folder).walk_revisions()}
    written: list[LegacyMigration] = []
    for migration in migrations:
        if migration.name in existing:
            continue
        target = versions / migration.path.name
        target.write_text(migration.path.read_text(encoding="utf-8") + _footer(migration), encoding="utf-8")
        written.append(migration)
    if not written:
        return []
    settings = MigrationSettings(database=database, command="stamp", allow_modified=True)
    config = alembic_config(folder, settings)
    converted = {m.name for m in written}

    def body(connection: Connection) -> None:
        applied = set(read_applied(connection)) & converted
        connection.commit()
        if not applied:
            return
        script = script_directory(folder)
        heads = [
            name
            for name in applied
            if not any(name in m.dependencies and m.name in applied for m in migrations)
        ]
        settings.connection = connection
        command.stamp(config, sorted(heads))
        ensure_state_table(connection)
        for name in applied:
            revision = script.get_revision(name)
            if revision is not None and revision.path:
                record_applied(connection, revision.path)
        connection.commit()

    await _on_connection(database, "convert_legacy", body)
    return [m.name for m in written]
