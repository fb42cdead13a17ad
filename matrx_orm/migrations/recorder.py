"""Reading a revision's operations without a database: run its ``upgrade()`` against a recording ``op``.

Every ``op.*`` call of a revision ends in :meth:`alembic.operations.Operations.invoke` with an operation
object (``AddColumnOp`` with its ``sa.Column``, ``CreateIndexOp`` with its keyword arguments,
``ExecuteSQLOp`` with its SQL...). :func:`record_upgrade` installs an ``Operations`` whose ``invoke`` (an
instance attribute: Alembic's ``op`` proxies are set up per class) records the object, the line of the revision file that made the call and whether it ran inside
``op.get_context().autocommit_block()``, instead of running it. Operations built in loops or helper functions
are seen as they really are, which reading the source could not promise.

Statements a revision runs on ``op.get_bind()`` are recorded too, as ``ExecuteSQLOp``; their result is
``None``, so a revision that reads rows (a data migration, a converted matrx-orm 2.x file) stops there and its
recording carries the error and the line.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from sqlalchemy import create_mock_engine

__all__ = ["RecordedOperation", "RevisionRecording", "record_upgrade"]


@dataclass(frozen=True)
class RecordedOperation:
    """One operation of a revision's ``upgrade()``."""

    operation: ops.MigrateOperation
    #: the line of the revision file that called ``op.*`` (0 when not found)
    line: int
    #: inside ``op.get_context().autocommit_block()``
    in_autocommit: bool


@dataclass
class RevisionRecording:
    """What a revision's ``upgrade()`` does, in order (``error`` when it could not run without a database)."""

    name: str
    path: Path
    operations: list[RecordedOperation] = field(default_factory=list)
    error: str | None = None
    error_line: int = 0


class _Recorder:
    def __init__(self, context: MigrationContext, path: Path) -> None:
        self.context = context
        self.path = str(path)
        self.recorded: list[RecordedOperation] = []
        self.autocommit = False

    def invoke(self, operation: ops.MigrateOperation) -> Any:
        self.recorded.append(RecordedOperation(operation, self.caller_line(), self.autocommit))
        if isinstance(operation, ops.CreateTableOp):
            return operation.to_table(self.context)  # op.create_table returns the Table (bulk_insert uses it)
        return None

    def execute_on_bind(self, statement: Any, parameters: Any = None) -> None:
        """``op.get_bind().execute(statement)``: recorded like ``op.execute(statement)``."""
        self.recorded.append(
            RecordedOperation(ops.ExecuteSQLOp(statement), self.caller_line(), self.autocommit)
        )

    def caller_line(self) -> int:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                return frame.f_lineno
            frame = frame.f_back  # type: ignore[assignment]
        return 0

    @contextlib.contextmanager
    def autocommit_block(self) -> Iterator[None]:
        outer, self.autocommit = self.autocommit, True
        try:
            yield
        finally:
            self.autocommit = outer


def _error_line(exc: BaseException, path: Path) -> int:
    line = 0
    trace = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == str(path):
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def record_upgrade(revision: Script) -> RevisionRecording:
    """Run ``revision``'s ``upgrade()`` against the recorder (no database is touched)."""
    path = Path(revision.path)
    recording = RevisionRecording(name=path.stem, path=path)
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"as_sql": True, "output_buffer": io.StringIO()}
    )
    recorder = _Recorder(context, path)
    operations = Operations(context)
    # instance attributes shadow the methods: op.* ends in operations.invoke(), and revisions call
    # op.get_context().autocommit_block()
    operations.invoke = recorder.invoke  # type: ignore[method-assign]
    context.autocommit_block = recorder.autocommit_block  # type: ignore[method-assign]
    bind: Any = create_mock_engine("postgresql://", recorder.execute_on_bind)
    context.connection = context.impl.connection = bind  # what op.get_bind() returns
    operations._install_proxy()
    try:
        revision.module.upgrade()
    except Exception as exc:  # the revision needs a database (or fails): reported, not linted
        recording.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        recording.error_line = _error_line(exc, path)
    finally:
        operations._remove_proxy()
    recording.operations = recorder.recorded
    return recording
