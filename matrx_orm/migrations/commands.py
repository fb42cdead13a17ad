"""The async migration API: makemigrations, migrate, rollback, migration_status, create_empty, dbcheck,
migrate_and_rebuild, and the linter (lint_migrations, no database needed).

Each command opens one connection on the project's engine (the migration URL when configured), hands it to
Alembic through ``run_sync`` and closes it. Commands of one process run one at a time (Alembic's ``context``
and ``op`` are module-level proxies); commands of different processes are serialised by a PostgreSQL
advisory lock while revisions are applied.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import inspect
import warnings
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from ..config import get_database_config
from ..db.engine import engine_connection
from ..exceptions import MigrationError, ParameterError, map_database_error
from .autogen import AutogenHooks
from .enums import EnumType
from .folder import alembic_config, ensure_folder, next_revision_id, script_directory
from .lint import LintReport, lint_revisions, model_columns
from .renames import Rename
from .runner import build_hooks, compare_options, modified_revisions, target_metadata, uses_transaction_pooler
from .scope import TableFilter, warn_cross_scope_references
from .settings import MigrationSettings
from .state import read_applied, revision_name

__all__ = [
    "CheckResult",
    "MakeMigrationsResult",
    "MigrationEntry",
    "MigrationStatus",
    "create_empty",
    "dbcheck",
    "lint_migrations",
    "make_revision",
    "makemigrations",
    "migrate",
    "migrate_and_rebuild",
    "migration_status",
    "rollback",
    "status",
]

T = TypeVar("T")

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


async def _on_connection(database: str, operation: str, body: Callable[[Connection], T]) -> T:
    """Run ``body(sync_connection)`` on a fresh connection of ``database`` (errors become ORMExceptions)."""
    name = get_database_config(database).name
    try:
        async with (
            _process_lock(),
            engine_connection(database, operation=operation, for_migrations=True) as connection,
        ):
            return await connection.run_sync(body)
    except CommandError as exc:
        raise MigrationError(str(exc), operation=operation, details={"database": name}) from exc


def _folder(migrations_dir: str | Path, database: str) -> Path:
    """The absolute folder path, after checking that ``database`` is registered (ConfigurationError)."""
    get_database_config(database)
    return Path(migrations_dir).resolve()


# -- makemigrations ------------------------------------------------------------------------------------------


@dataclass
class MakeMigrationsResult:
    """What :func:`make_revision` did: the file (None when nothing changed) and what it reported."""

    path: Path | None
    #: tables in the database with no model in scope (not dropped unless allow_drops)
    unmanaged_tables: list[str] = field(default_factory=list)
    dropped_tables: list[str] = field(default_factory=list)
    #: ("table.column", "referenced_table") FKs that point outside the scope
    cross_scope_references: list[tuple[str, str]] = field(default_factory=list)
    #: enum members in the database that the models dropped, renamed or reordered (warned, never changed)
    enum_reports: list[str] = field(default_factory=list)
    #: warnings about the revision: NOT NULL columns without default, drop + add pairs that look like renames
    notes: list[str] = field(default_factory=list)


def _renames(renames: Iterable[Rename | str] | None) -> list[Rename]:
    return [r if isinstance(r, Rename) else Rename.parse(r) for r in renames or ()]


def _behind_message(database: str, exc: MigrationError) -> MigrationError:
    """``Target database is not up to date.`` in words: what to run first."""
    if "not up to date" not in exc.message:
        return exc
    return MigrationError(
        f"database {database!r} has revisions of this folder that are not applied yet: run migrate first, "
        "so the new revision is computed against the latest schema",
        operation="makemigrations",
        details={"database": database},
    )


def _scope(
    table_filter: TableFilter | None,
    include_tables: Iterable[str] | None,
    exclude_tables: Iterable[str] | None,
) -> TableFilter:
    if table_filter is not None:
        if include_tables is not None or exclude_tables is not None:
            raise ParameterError("pass table_filter= or include_tables=/exclude_tables=, not both")
        return table_filter
    return TableFilter.from_options(include_tables, exclude_tables)


def _warn_unmanaged(tables: list[str]) -> None:
    if tables:
        warnings.warn(
            "[MATRX ORM] Tables in the database with no model in the migration scope were left alone (no "
            f"DROP TABLE generated): {', '.join(tables)}. Pass allow_drops=True (--allow-drops) to drop them, "
            "or exclude them from the scope.",
            UserWarning,
            stacklevel=1,
        )


def _slug_message(name: str | None, folder: Path) -> str:
    if name:
        return name
    versions = folder / "versions"
    has_revisions = versions.is_dir() and any(p.suffix == ".py" for p in versions.iterdir())
    return "auto" if has_revisions else "initial"


async def make_revision(
    database: str,
    migrations_dir: str | Path = "migrations",
    name: str | None = None,
    *,
    table_filter: TableFilter | None = None,
    include_tables: Iterable[str] | None = None,
    exclude_tables: Iterable[str] | None = None,
    allow_drops: bool = False,
    app_modules: list[str] | None = None,
    renames: Iterable[Rename | str] | None = None,
    project_root: Path | None = None,
) -> MakeMigrationsResult:
    """Autogenerate a revision from the models/database difference; see :func:`makemigrations`."""
    scope = _scope(table_filter, include_tables, exclude_tables)
    planned = _renames(renames)
    metadatas = target_metadata(database)
    cross = warn_cross_scope_references([t for m in metadatas for t in m.tables.values()], scope)
    folder = ensure_folder(migrations_dir, database, app_modules, project_root)
    script = script_directory(folder)
    settings = MigrationSettings(
        database=database,
        command="revision",
        table_filter=scope,
        allow_drops=allow_drops,
        autogenerate=True,
        renames=planned,
    )
    config = alembic_config(folder, settings)
    rev_id = next_revision_id(script)
    message = _slug_message(name, folder)

    def body(connection: Connection) -> Any:
        settings.connection = connection
        return command.revision(config, message=message, autogenerate=True, rev_id=rev_id)

    try:
        produced = await _on_connection(database, "makemigrations", body)
    except MigrationError as exc:
        raise _behind_message(database, exc) from exc
    hooks = settings.hooks or AutogenHooks()
    scripts = produced if isinstance(produced, list) else [produced]
    path = next((Path(s.path) for s in scripts if s is not None), None)
    unmanaged = list(hooks.unmanaged)
    for note in [*hooks.enum_reports, *hooks.notes]:
        warnings.warn(f"[MATRX ORM] {note}", UserWarning, stacklevel=2)
    result = MakeMigrationsResult(
        path=path,
        unmanaged_tables=[] if allow_drops else unmanaged,
        dropped_tables=unmanaged if allow_drops and path is not None else [],
        cross_scope_references=cross,
        enum_reports=list(hooks.enum_reports),
        notes=list(hooks.notes),
    )
    _warn_unmanaged(result.unmanaged_tables)
    return result


async def makemigrations(
    database: str,
    migrations_dir: str | Path = "migrations",
    name: str | None = None,
    *,
    include_tables: Iterable[str] | None = None,
    exclude_tables: Iterable[str] | None = None,
    table_filter: TableFilter | None = None,
    allow_drops: bool = False,
    renames: Iterable[Rename | str] | None = None,
) -> Path | None:
    """Write a new revision for the differences between the models and the database.

    Returns the new file's path, or ``None`` when nothing changed. ``include_tables`` / ``exclude_tables``
    (mutually exclusive) or ``table_filter`` limit the diff; an in-scope FK to an out-of-scope table warns.
    A table in the database with no model in scope is reported (``UserWarning``), never dropped unless
    ``allow_drops=True``. ``renames`` (``"table.old_column:new_column"``, ``"old_table:new_table"``) become
    renames instead of a drop and an add. The database must have every revision of the folder applied. The
    folder is created from the template on first use.
    """
    result = await make_revision(
        database,
        migrations_dir,
        name,
        table_filter=table_filter,
        include_tables=include_tables,
        exclude_tables=exclude_tables,
        allow_drops=allow_drops,
        renames=renames,
    )
    return result.path


# -- migrate / rollback --------------------------------------------------------------------------------------


async def _apply(
    database: str, migrations_dir: str | Path, operation: str, target: str, *, allow_modified: bool
) -> MigrationSettings:
    folder = _folder(migrations_dir, database)
    script = script_directory(folder)  # a clear error when the folder is not initialised
    settings = MigrationSettings(
        database=database,
        command="upgrade" if operation == "migrate" else "downgrade",
        allow_modified=allow_modified,
    )
    config = alembic_config(folder, settings)

    one_transaction = uses_transaction_pooler(database)

    def body(connection: Connection) -> None:
        settings.connection = connection
        try:
            if settings.command == "upgrade":
                command.upgrade(config, target)
            else:
                command.downgrade(config, target)
        except sa.exc.DBAPIError as exc:
            if connection.in_transaction():
                connection.rollback()
            done = settings.applied if settings.command == "upgrade" else settings.reverted
            failed = _failed_revision(
                connection, script, settings.command, target, len(done) if one_transaction else 0
            )
            raise _revision_failed(operation, database, failed, exc, [] if one_transaction else done) from exc

    await _on_connection(database, operation, body)
    return settings


def _failed_revision(connection: Connection, script: Any, direction: str, target: str, skipped: int) -> str:
    """The file name of the revision that failed: the next one to run after the ``skipped`` that ran (in the
    same transaction, rolled back with it) beyond what the database records as applied."""
    try:
        heads = _current_heads(connection)
        connection.rollback()
        if direction == "upgrade":
            path = list(script.iterate_revisions(target, heads or "base"))
            candidates = [r for r in path if r.revision not in heads]
            revision = candidates[-1 - skipped] if len(candidates) > skipped else None
        else:
            path = list(script.iterate_revisions(heads, "base")) if heads else []
            revision = path[skipped] if len(path) > skipped else None
    except Exception:  # best effort: the message still carries the database's reason
        return "?"
    return revision_name(revision.path) if revision is not None else "?"


def _revision_failed(
    operation: str, database: str, failed: str, exc: sa.exc.DBAPIError, done: list[str]
) -> MigrationError:
    """The error of a revision that failed (``done``: the revisions before it that stay applied)."""
    reason = map_database_error(exc).message.splitlines()[0]
    verb = "applying" if operation == "migrate" else "rolling back"
    if uses_transaction_pooler(database):
        message = (
            f"{verb} revision {failed} failed: {reason}; the whole run was rolled back (behind a transaction "
            "pooler every pending revision runs in one transaction)"
        )
    else:
        message = f"{verb} revision {failed} failed and was rolled back: {reason}" + (
            f" (completed before it: {', '.join(done)})" if done else ""
        )
    return MigrationError(
        message,
        operation=operation,
        details={"database": database, "revision": failed, "completed": list(done)},
    )


async def migrate(
    database: str,
    migrations_dir: str | Path = "migrations",
    *,
    target: str = "head",
    allow_modified: bool = False,
) -> list[str]:
    """Apply the pending revisions (each in its own transaction, under an advisory lock).

    Returns the names of the revision files applied, in order. A revision file changed after it was applied
    raises :class:`~matrx_orm.MigrationError` naming it, unless ``allow_modified=True``.
    """
    settings = await _apply(database, migrations_dir, "migrate", target, allow_modified=allow_modified)
    return settings.applied


def _current_heads(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def rollback(
    database: str, migrations_dir: str | Path = "migrations", steps: int = 1, *, allow_modified: bool = False
) -> list[str]:
    """Roll back the last ``steps`` applied revisions; returns their names, most recent first."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ParameterError(f"rollback steps must be a positive integer, got {steps!r}")
    folder = _folder(migrations_dir, database)
    script = script_directory(folder)
    heads = await _on_connection(database, "rollback", _current_heads)
    applied = [r for r in script.iterate_revisions(heads, "base")] if heads else []
    if not applied:
        return []
    target = "base" if steps >= len(applied) else f"-{steps}"
    settings = await _apply(database, migrations_dir, "rollback", target, allow_modified=allow_modified)
    return settings.reverted


# -- status --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationEntry:
    """One revision of the folder and its state in the database."""

    name: str
    revision: str
    path: Path
    applied: bool
    applied_at: datetime.datetime | None = None
    #: applied, and the file changed since (its checksum differs from the recorded one)
    modified: bool = False

    @property
    def flag(self) -> str:
        if self.modified:
            return "modified"
        return "applied" if self.applied else "pending"


@dataclass(frozen=True)
class MigrationStatus:
    """Applied and pending revisions, oldest first; ``missing`` are applied revisions with no file here."""

    entries: list[MigrationEntry]
    heads: tuple[str, ...] = ()
    missing: list[str] = field(default_factory=list)

    @property
    def applied(self) -> list[str]:
        return [e.name for e in self.entries if e.applied]

    @property
    def pending(self) -> list[str]:
        return [e.name for e in self.entries if not e.applied]

    @property
    def modified(self) -> list[str]:
        return [e.name for e in self.entries if e.modified]

    def as_dict(self) -> dict[str, str]:
        """``{name: "applied" | "pending" | "modified"}`` (the shape matrx-orm's ``status`` returned)."""
        return {e.name: e.flag for e in self.entries}


async def migration_status(database: str, migrations_dir: str | Path = "migrations") -> MigrationStatus:
    """Which revisions of ``migrations_dir`` are applied to ``database``, which are pending, which changed."""
    folder = _folder(migrations_dir, database)
    script = script_directory(folder)

    def body(connection: Connection) -> MigrationStatus:
        heads = _current_heads(connection)
        records = read_applied(connection)
        changed = set(modified_revisions(connection, script))
        known = {r.revision for r in script.walk_revisions()}
        missing = [h for h in heads if h not in known]
        applied_ids = set()
        if heads and not missing:
            applied_ids = {r.revision for r in script.iterate_revisions(heads, "base")}
        entries = []
        for revision in reversed(list(script.walk_revisions())):
            path = Path(revision.path)
            name = revision_name(path)
            record = records.get(name)
            entries.append(
                MigrationEntry(
                    name=name,
                    revision=revision.revision,
                    path=path,
                    applied=revision.revision in applied_ids,
                    applied_at=record.applied_at if record else None,
                    modified=path in changed,
                )
            )
        return MigrationStatus(entries=entries, heads=heads, missing=missing)

    return await _on_connection(database, "status", body)


#: matrx-orm's older name
status = migration_status


# -- create_empty --------------------------------------------------------------------------------------------


async def create_empty(
    database: str, migrations_dir: str | Path = "migrations", name: str = "custom"
) -> Path:
    """Write a blank revision (``upgrade()`` / ``downgrade()`` to fill in, e.g. with ``op.execute(sql)``).

    No database round trip: the folder's revisions alone decide the number and the parent revision.
    """
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"create_empty needs a non-empty name, got {name!r}")
    folder = ensure_folder(_folder(migrations_dir, database), database)
    script = script_directory(folder)
    settings = MigrationSettings(database=database, command="revision")
    config = alembic_config(folder, settings)
    try:
        produced = command.revision(config, message=name, rev_id=next_revision_id(script))
    except CommandError as exc:
        raise MigrationError(str(exc), operation="create_empty") from exc
    scripts = produced if isinstance(produced, list) else [produced]
    found = next((s for s in scripts if s is not None), None)
    if found is None:  # pragma: no cover - alembic always writes a plain revision
        raise MigrationError("Alembic did not write a revision file", operation="create_empty")
    return Path(found.path)


# -- dbcheck -------------------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """Differences between the models and the database (empty ``differences`` = in sync)."""

    differences: list[str]
    unmanaged_tables: list[str] = field(default_factory=list)
    #: the linter's report on the revisions not applied yet (with ``migrations_dir=``), else None
    lint: LintReport | None = None

    @property
    def in_sync(self) -> bool:
        return not self.differences


def _show_value(value: Any) -> str:
    """A server default as its SQL text, a type as its SQL name, anything else as its repr."""
    if isinstance(value, sa.DefaultClause):
        value = value.arg
    if isinstance(value, sa.TextClause):
        return value.text
    if isinstance(value, sa.ClauseElement | sa.types.TypeEngine):
        try:
            return str(value.compile(dialect=postgresql.dialect()))
        except Exception:  # a type or construct PostgreSQL cannot compile alone
            return repr(value)
    return repr(value)


def _describe_diff(diff: Any) -> str:
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return "; ".join(_describe_diff(d) for d in diff)
    kind = diff[0]
    target = diff[1] if len(diff) > 1 else None
    if isinstance(target, sa.Table):
        return f"{kind} {target.fullname}"
    if isinstance(target, EnumType):
        members = ", ".join(diff[2] if len(diff) > 2 else target.labels)
        return f"{kind} {target.display} ({members})"
    if isinstance(target, sa.Index | sa.UniqueConstraint | sa.ForeignKeyConstraint):
        table = getattr(target, "table", None)
        return f"{kind} {target.name} on {table.fullname if table is not None else '?'}"
    if kind in ("add_column", "remove_column"):
        schema, table, column = diff[1], diff[2], diff[3]
        return f"{kind} {f'{schema}.' if schema else ''}{table}.{column.name}"
    if kind.startswith("modify_"):
        schema, table, column = diff[1], diff[2], diff[3]
        before, after = _show_value(diff[5]), _show_value(diff[6])
        return f"{kind} {f'{schema}.' if schema else ''}{table}.{column}: {before} -> {after}"
    return " ".join(str(part) for part in diff[:3])


async def dbcheck(
    database: str,
    *,
    include_tables: Iterable[str] | None = None,
    exclude_tables: Iterable[str] | None = None,
    table_filter: TableFilter | None = None,
    allow_drops: bool = False,
    migrations_dir: str | Path | None = None,
) -> CheckResult:
    """Compare the models with the database (what ``makemigrations`` would write), without writing anything.

    With ``migrations_dir`` (an initialised folder), the revisions not applied yet are linted too
    (:attr:`CheckResult.lint`).
    """

    scope = _scope(table_filter, include_tables, exclude_tables)
    settings = MigrationSettings(
        database=database, command="check", table_filter=scope, allow_drops=allow_drops, autogenerate=True
    )

    def body(connection: Connection) -> list[str]:
        hooks = build_hooks(settings, connection)
        metadatas = target_metadata(database)
        context = MigrationContext.configure(connection, opts=compare_options(hooks, metadatas))
        script = produce_migrations(context, metadatas)  # type: ignore[arg-type]
        assert script.upgrade_ops is not None
        differences = [_describe_diff(d) for d in script.upgrade_ops.as_diffs()]
        return differences + [f"enum: {note}" for note in hooks.enum_reports]

    differences = await _on_connection(database, "dbcheck", body)
    hooks = settings.hooks or AutogenHooks()
    result = CheckResult(
        differences=differences, unmanaged_tables=[] if allow_drops else list(hooks.unmanaged)
    )
    if migrations_dir is not None and (Path(migrations_dir) / "env.py").is_file():
        pending = (await migration_status(database, migrations_dir)).pending
        result.lint = lint_migrations(migrations_dir, pending, database=database) if pending else LintReport()
    return result


# -- lint ----------------------------------------------------------------------------------------------------


def lint_migrations(
    migrations_dir: str | Path = "migrations",
    revisions: Iterable[str] | None = None,
    *,
    database: str | None = None,
) -> LintReport:
    """Report the operations of ``revisions`` (ids, file names or paths; None: all) that lock or rewrite a busy
    table, each with the safe alternative. No database is touched; with ``database`` (a registered project)
    the drop and rename rules compare with its models."""
    script = script_directory(Path(migrations_dir).resolve())
    models = model_columns(target_metadata(database)) if database is not None else None
    return lint_revisions(script, revisions, models=models)


# -- migrate_and_rebuild -------------------------------------------------------------------------------------


def _codegen_entry_point() -> Callable[..., Any] | None:

    for module_name in ("matrx_orm.schema_builder.generator", "matrx_orm.schema_builder"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        entry = getattr(module, "run_generate_models", None)
        if callable(entry):
            return entry  # type: ignore[no-any-return]
    return None


async def migrate_and_rebuild(
    database: str,
    migrations_dir: str | Path = "migrations",
    output_dir: str | Path | None = None,
    *,
    allow_modified: bool = False,
    **codegen_options: Any,
) -> dict[str, Any]:
    """Apply pending migrations, then regenerate models from the database (the schema builder's
    ``run_generate_models``).

    Returns ``{"applied": [...], "models_regenerated": bool, "codegen": <what the generator returned, or a
    message when code generation is unavailable>}``.
    """
    applied = await migrate(database, migrations_dir, allow_modified=allow_modified)
    generate = _codegen_entry_point()
    if generate is None:
        warnings.warn(
            "[MATRX ORM] migrations applied, but model code generation is unavailable "
            "(matrx_orm.schema_builder.run_generate_models is not installed)",
            UserWarning,
            stacklevel=2,
        )
        return {"applied": applied, "models_regenerated": False, "codegen": "code generation unavailable"}
    kwargs: dict[str, Any] = {"database_project": database, **codegen_options}
    if output_dir is not None:
        kwargs["output_dir"] = str(output_dir)
    outcome = generate(**kwargs)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    return {"applied": applied, "models_regenerated": True, "codegen": outcome}
