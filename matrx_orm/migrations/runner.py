"""The body of a migrations folder's ``env.py``: :func:`run_env`.

Started by a ``matrx-orm`` command, it uses the connection that command lends (an ``AsyncConnection``'s
``run_sync``); started by plain ``alembic``, it applies the logging setup of ``alembic.ini`` (so ``upgrade``
logs each revision as Alembic does), imports the app, opens the project's engine (the migration URL when
configured) and does the same through ``asyncio.run``. Either way it configures Alembic with the project's
``MetaData`` (naming convention included), ``compare_type``, ``compare_server_default``, the matrx type
rendering, the table scope, the advisory lock and the checksums of ``_matrx_migrations``.

How revisions are applied depends on the connection:

* a direct connection (or the project's ``migration_url``, or a pooler in session mode): one transaction per
  revision, under a session-level advisory lock held across them;
* a transaction pooler (``pooler_mode="transaction"``) without ``migration_url``: a session-level lock is not
  safe there (taken on one server session, released on another), so all pending revisions run in one
  transaction that first takes a transaction-level advisory lock (``pg_advisory_xact_lock``). A revision
  that needs to run outside a transaction (``autocommit_block()``: ``CREATE INDEX CONCURRENTLY``, ``ALTER
  TYPE ... ADD VALUE``) cannot, and stops with a :class:`~matrx_orm.MigrationError` asking for
  ``migration_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging.config
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from ..config import get_database_config
from ..db.engine import engine_connection
from ..exceptions import MigrationError
from ..meta.registry import metadata_for
from .autogen import AutogenHooks, render_item
from .concurrent_indexes import concurrent_index_names
from .enums import HOOKS_OPTION
from .enums import PLUGIN_NAME as ENUM_PLUGIN
from .index_options import PLUGIN_NAME as INDEX_PLUGIN
from .lock import advisory_lock, transaction_lock
from .renames import trial_renames
from .safe_columns import column_fields
from .settings import SETTINGS_KEY, MigrationSettings, settings_from_config
from .state import (
    ensure_state_table,
    file_checksum,
    forget_applied,
    read_applied,
    record_applied,
    revision_name,
)

__all__ = ["compare_options", "modified_revisions", "run_env", "target_metadata", "uses_transaction_pooler"]


def target_metadata(database: str) -> list[sa.MetaData]:
    """The MetaData of every model registered on ``database`` (by its name or its alias)."""
    config = get_database_config(database)
    keys = [config.name] + ([config.alias] if config.alias and config.alias != config.name else [])
    return [metadata_for(key) for key in keys]


def _model_schemas(metadatas: list[sa.MetaData]) -> set[str]:
    return {t.schema for m in metadatas for t in m.tables.values() if t.schema}


def build_hooks(settings: MigrationSettings, connection: Connection | None) -> AutogenHooks:
    """The autogenerate hooks of this run (kept on the settings so the command can read the report)."""
    if settings.hooks is None:
        settings.hooks = AutogenHooks(table_filter=settings.table_filter, allow_drops=settings.allow_drops)
    hooks = settings.hooks
    metadatas = target_metadata(settings.database)
    hooks.model_schemas = _model_schemas(metadatas)
    hooks.model_tables = {(t.schema, t.name) for m in metadatas for t in m.tables.values()}
    hooks.writes_file = settings.command == "revision"
    if hooks.writes_file:
        hooks.model_fields = column_fields(settings.database)
        hooks.concurrent_indexes = concurrent_index_names(metadatas)
    if connection is not None:
        hooks.existing_schemas = set(sa.inspect(connection).get_schema_names())
    return hooks


def compare_options(hooks: AutogenHooks, metadatas: list[sa.MetaData]) -> dict[str, Any]:
    """The ``context.configure`` options that decide what autogenerate compares (makemigrations, dbcheck)."""
    return {
        "target_metadata": metadatas,
        "compare_type": True,
        "compare_server_default": True,
        "include_schemas": bool(hooks.model_schemas),
        "include_name": hooks.include_name,
        "include_object": hooks.include_object,
        "autogenerate_plugins": ["alembic.autogenerate.*", ENUM_PLUGIN, INDEX_PLUGIN],
        HOOKS_OPTION: hooks,
    }


def _configure_options(settings: MigrationSettings, hooks: AutogenHooks) -> dict[str, Any]:
    options = compare_options(hooks, target_metadata(settings.database))
    options.update(
        {
            "render_item": render_item,
            "transaction_per_migration": True,
            "on_version_apply": [_on_version_apply(settings)],
        }
    )
    if settings.autogenerate:
        options["process_revision_directives"] = hooks.process_revision_directives
    return options


def _on_version_apply(settings: MigrationSettings) -> Any:
    def callback(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        for revision in step.up_revisions:
            path = getattr(revision, "path", None)
            if path is None:
                continue
            if step.is_upgrade:
                record_applied(ctx.connection, path)
                settings.applied.append(revision_name(path))
            else:
                forget_applied(ctx.connection, path)
                settings.reverted.append(revision_name(path))

    return callback


def modified_revisions(connection: Connection, script: Any) -> list[Path]:
    """Applied revision files whose contents differ from the checksum recorded when they ran."""
    records = read_applied(connection)
    if not records:
        return []
    changed: list[Path] = []
    for revision in script.walk_revisions():
        path = Path(revision.path)
        record = records.get(revision_name(path))
        if record is not None and path.is_file() and file_checksum(path) != record.checksum:
            changed.append(path)
    return sorted(changed)


def _check_modified(connection: Connection, settings: MigrationSettings, script: Any) -> None:
    changed = modified_revisions(connection, script)
    if changed and not settings.allow_modified:
        names = ", ".join(str(p) for p in changed)
        raise MigrationError(
            f"migration file(s) changed after they were applied: {names}. Restore the applied version, or "
            "rerun with --allow-modified (allow_modified=True; with plain alembic: -x allow_modified=true) "
            "to accept the change.",
            operation="migrate",
            details={"files": [str(p) for p in changed]},
        )


def uses_transaction_pooler(database: str) -> bool:
    """True when migrations of ``database`` connect through a transaction pooler (no ``migration_url``)."""
    config = get_database_config(database)
    return config.pooler_mode == "transaction" and not config.migration_url


def _no_autocommit(database: str) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """An ``autocommit_block()`` that refuses: behind a transaction pooler the run is one transaction."""

    @contextlib.contextmanager
    def refuse() -> Iterator[None]:
        raise MigrationError(
            "a revision runs statements outside a transaction (autocommit_block(): CREATE INDEX "
            f"CONCURRENTLY, ALTER TYPE ... ADD VALUE), but database {database!r} is reached through a "
            "transaction pooler (pooler_mode='transaction'), where the migration lock and the statements "
            "must stay in one transaction. Set migration_url (DIRECT_URL) to a direct connection and rerun.",
            operation="migrate",
            details={"database": database},
        )
        yield  # pragma: no cover - never reached

    return refuse


def _apply_per_revision(
    context: Any, connection: Connection, settings: MigrationSettings, options: dict[str, Any]
) -> None:
    """One transaction per revision, under a session-level advisory lock held across them."""
    with advisory_lock(connection):
        ensure_state_table(connection)
        connection.commit()
        _check_modified(connection, settings, context.script)
        connection.commit()
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


def _apply_in_one_transaction(
    context: Any, connection: Connection, settings: MigrationSettings, options: dict[str, Any]
) -> None:
    """Every pending revision in one transaction that takes a transaction-level advisory lock first."""
    options = {**options, "transaction_per_migration": False}
    context.configure(connection=connection, **options)
    # an instance attribute shadows the method: revisions call op.get_context().autocommit_block()
    context.get_context().autocommit_block = _no_autocommit(settings.database)
    with context.begin_transaction():
        transaction_lock(connection)
        ensure_state_table(connection)
        _check_modified(connection, settings, context.script)
        context.run_migrations()


def _compare(
    context: Any, connection: Connection, settings: MigrationSettings, options: dict[str, Any]
) -> None:
    """``revision --autogenerate`` / ``check``: on the database as it is, or as the renames leave it."""
    if not settings.renames:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    hooks = settings.hooks
    assert hooks is not None
    with trial_renames(connection, settings.renames, target_metadata(settings.database)) as plan:
        hooks.rename_plan = plan
        context.configure(connection=connection, **options)
        context.run_migrations()


def run_online(context: Any, connection: Connection, settings: MigrationSettings) -> None:
    """Configure Alembic on ``connection`` and run the command (under the advisory lock when applying)."""
    hooks = build_hooks(settings, connection)
    if connection.in_transaction():
        connection.commit()  # Alembic must start one transaction per revision itself
    options = _configure_options(settings, hooks)
    if not settings.applies_revisions:
        _compare(context, connection, settings, options)
    elif uses_transaction_pooler(settings.database):
        _apply_in_one_transaction(context, connection, settings, options)
    else:
        _apply_per_revision(context, connection, settings, options)


def _run_offline(context: Any, settings: MigrationSettings) -> None:
    url = get_database_config(settings.database).sqlalchemy_url(for_migrations=True)
    hooks = build_hooks(settings, None)
    options = _configure_options(settings, hooks)
    options.pop("on_version_apply")
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(context: Any, settings: MigrationSettings) -> None:
    operation = f"alembic {settings.command}"
    async with engine_connection(settings.database, operation=operation, for_migrations=True) as connection:
        await connection.run_sync(lambda sync: run_online(context, sync, settings))


def _configure_logging(config: Any) -> None:
    """The ``[loggers]``/``[handlers]``/``[formatters]`` of ``alembic.ini``, as Alembic's own ``env.py`` does."""
    name = config.config_file_name
    if name and config.file_config.has_section("loggers"):
        logging.config.fileConfig(name, disable_existing_loggers=False)


def run_env() -> None:
    """Run the current Alembic command for this migrations folder (call it from ``env.py``)."""

    if SETTINGS_KEY not in context.config.attributes:  # started by plain alembic, not by a matrx-orm command
        _configure_logging(context.config)
    settings = settings_from_config(context.config)
    if context.is_offline_mode():
        _run_offline(context, settings)
    elif settings.connection is not None:
        run_online(context, settings.connection, settings)
    else:
        asyncio.run(_run_with_own_engine(context, settings))
