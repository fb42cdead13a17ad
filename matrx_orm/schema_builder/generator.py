"""``run_generate_models``: reflect a registered database and write models, managers and TypeScript.

Layout of ``output_dir`` (a Python package)::

    __init__.py                   created once
    models.py                     generated: enums, one Model per table, read-only models for views
    managers/__init__.py          generated: imports every XManager
    managers/generated/<t>.py     generated: class XManagerBase(BaseManager[X]): model = X
    managers/<t>.py               yours: class XManager(XManagerBase), created once, never overwritten
    typescript/entities.ts        generated when typescript=True

Generated files are rewritten only when their text changes, and generated base managers of tables that
no longer exist are removed; files you own are never touched once they exist.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..config import get_database_config, get_schema_builder_overrides
from ..db.engine import dispose_all
from .info import SchemaInfo
from .plan import Plan, PlanOptions, build_plan
from .progress import Progress
from .reflect import TableSelection, reflect_database
from .render import (
    render_generated_init,
    render_manager_base,
    render_manager_user,
    render_managers_init,
    render_models,
    render_package_init,
)
from .typescript import render_typescript

__all__ = [
    "CODE_LAYOUT",
    "GeneratedFile",
    "get_code_config",
    "GenerationResult",
    "generate_files",
    "run_generate_models",
    "run_generate_models_sync",
    "write_files",
]

T = TypeVar("T")


#: what ``generate`` writes, by matrx-orm 2.x's output names: the file (relative to the output folder) and
#: whether it is yours (created once, never overwritten)
CODE_LAYOUT: dict[str, dict[str, Any]] = {
    "python_models": {"file_location": "models.py", "once": False},
    "python_base_manager": {"file_location": "managers/generated/{table}.py", "once": False},
    "python_user_manager": {"file_location": "managers/{table}.py", "once": True},
    "python_all_managers": {"file_location": "managers/__init__.py", "once": False},
    "python_package": {"file_location": "__init__.py", "once": True},
    "typescript_entities": {"file_location": "typescript/entities.ts", "once": False},
}


def get_code_config(db_project: str | None = None) -> dict[str, dict[str, Any]]:
    """The files ``matrx-orm generate`` writes (a fresh copy of :data:`CODE_LAYOUT`; the same for every
    project, as in matrx-orm 2.x)."""
    return {name: dict(spec) for name, spec in CODE_LAYOUT.items()}


@dataclass(frozen=True)
class GeneratedFile:
    """One output file: its path relative to ``output_dir``, its text and whether it is yours (``once``)."""

    path: str
    text: str
    once: bool = False


@dataclass
class GenerationResult:
    """What a run did: paths (relative to ``output_dir``) written, left unchanged, kept (yours) and removed."""

    output_dir: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: int = 0
    views: int = 0

    def summary(self) -> str:
        """One line for humans (the CLI prints it)."""
        return (
            f"{self.tables} tables, {self.views} views -> {self.output_dir}: {len(self.written)} written, "
            f"{len(self.unchanged)} unchanged, {len(self.kept)} kept, {len(self.removed)} removed"
        )


def generate_files(
    plan: Plan, *, managers: bool = True, typescript: bool = False, overrides: dict[str, Any] | None = None
) -> list[GeneratedFile]:
    """Every file of the plan (pure: no disk, no database)."""
    files = [
        GeneratedFile("__init__.py", render_package_init(plan), once=True),
        GeneratedFile("models.py", render_models(plan)),
    ]
    if managers:
        files.append(GeneratedFile("managers/__init__.py", render_managers_init(plan)))
        files.append(GeneratedFile("managers/generated/__init__.py", render_generated_init()))
        for model in plan.models:
            files.append(
                GeneratedFile(f"managers/generated/{model.module}.py", render_manager_base(plan, model))
            )
            files.append(
                GeneratedFile(f"managers/{model.module}.py", render_manager_user(plan, model), once=True)
            )
    if typescript:
        files.append(GeneratedFile("typescript/entities.ts", render_typescript(plan, overrides)))
    return files


def write_files(
    output_dir: str | Path, files: Sequence[GeneratedFile], *, progress: Progress | None = None
) -> GenerationResult:
    """Write ``files`` under ``output_dir``; remove generated base managers that are no longer produced."""
    root = Path(output_dir)
    result = GenerationResult(output_dir=root)
    progress = progress or Progress.quiet()
    for number, item in enumerate(files, 1):
        path = root / item.path
        progress.advance("writing files", number, len(files))
        if path.exists():
            if item.once:
                result.kept.append(item.path)
                continue
            if path.read_text(encoding="utf-8") == item.text:
                result.unchanged.append(item.path)
                continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(item.text, encoding="utf-8", newline="\n")
        result.written.append(item.path)
    generated_dir = root / "managers" / "generated"
    if generated_dir.is_dir():
        produced = {item.path for item in files}
        for stale in sorted(generated_dir.glob("*.py")):
            relative = stale.relative_to(root).as_posix()
            if relative not in produced:
                stale.unlink()
                result.removed.append(relative)
    return result


def _default_output_dir(database_project: str) -> Path:
    config = get_database_config(database_project)
    return Path("database") / (config.alias or config.name)


async def run_generate_models(
    database_project: str,
    output_dir: str | Path | None = None,
    *,
    schemas: Sequence[str] | None = None,
    include_tables: Iterable[str] | None = None,
    exclude_tables: Iterable[str] | None = None,
    skip_tables: Iterable[str] = (),
    managers: bool = True,
    typescript: bool = False,
    m2m_payload_junctions: bool = True,
    progress: Progress | bool | None = None,
) -> GenerationResult:
    """Introspect ``database_project`` and write models (and managers, TypeScript) into ``output_dir``.

    ``schemas`` defaults to ``public`` plus the project's ``additional_schemas``; tables in other schemas
    that generated tables reference (Supabase ``auth.users``) are generated too. ``include_tables`` /
    ``exclude_tables`` (mutually exclusive) limit the tables; names may be ``table`` or ``schema.table``.
    The migration bookkeeping tables (``alembic_version``, ``_matrx_migrations``) and ``skip_tables`` are
    never generated. ``output_dir`` defaults to ``./database/<alias or name>``. ``progress``: ``None`` shows a progress line
    on stderr when it is a terminal, ``False`` never, a :class:`Progress` to control it.
    """
    TableSelection(include_tables, exclude_tables)  # bad scope fails before anything else
    config = get_database_config(database_project)
    if progress is None or progress is True:
        reporter = Progress.auto()
    elif progress is False:
        reporter = Progress.quiet()
    else:
        reporter = progress
    info = await reflect_database(
        config.name,
        schemas,
        include_tables=include_tables,
        exclude_tables=exclude_tables,
        skip_tables=skip_tables,
        progress=reporter,
    )
    return _generate(
        info,
        output_dir if output_dir is not None else _default_output_dir(config.name),
        managers=managers,
        typescript=typescript,
        overrides=get_schema_builder_overrides(config.name) if typescript else None,
        m2m_payload_junctions=m2m_payload_junctions,
        progress=reporter,
    )


def _generate(
    info: SchemaInfo,
    output_dir: str | Path,
    *,
    managers: bool,
    typescript: bool,
    overrides: dict[str, Any] | None,
    m2m_payload_junctions: bool,
    progress: Progress,
) -> GenerationResult:
    progress.step(f"planning {len(info.tables)} tables")
    plan = build_plan(info, PlanOptions(database=info.database, m2m_payload_junctions=m2m_payload_junctions))
    progress.step("rendering")
    files = generate_files(plan, managers=managers, typescript=typescript, overrides=overrides)
    result = write_files(output_dir, files, progress=progress)
    result.notes = list(plan.notes)
    result.tables = sum(1 for t in info.tables if not t.is_view)
    result.views = sum(1 for t in info.tables if t.is_view)
    progress.done(result.summary())
    return result


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from synchronous code: ``asyncio.run`` in this thread, or in a helper thread when an
    event loop is already running here (notebooks). The pools it opened are closed before returning."""

    async def body() -> T:
        try:
            return await factory()
        finally:
            await dispose_all()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(body())
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(body())
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="matrx-orm-schema-builder")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def run_generate_models_sync(
    database_project: str, output_dir: str | Path | None = None, **options: Any
) -> GenerationResult:
    """:func:`run_generate_models` for plain synchronous code (scripts, the CLI)."""
    return run_sync(lambda: run_generate_models(database_project, output_dir, **options))
