"""The migration linter: operations that lock or rewrite a busy table, each with the safe alternative.

:func:`lint_revisions` reads each revision's operations with :mod:`.recorder` (its ``upgrade()`` runs against a
recording ``op``; raw SQL given to ``op.execute`` is read with patterns) and reports, per rule of
:data:`RULES`, the ones that are unsafe on a table that already exists (a table the same revision creates
is empty and unused: nothing on it is reported). ``# matrx-orm: lint-ignore <rule>[, <rule>...]`` on any line
of the operation's statement, or on the comment lines just above it, silences those rules for it (a bare
``# matrx-orm: lint-ignore`` silences every rule).

The rules about dropping and renaming need the models: they run when the database project (and so its
models) is known, and report an operation only while the models still use the old name.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from alembic.script import Script, ScriptDirectory
from sqlalchemy.dialects import postgresql

from ..exceptions import ParameterError
from .recorder import RecordedOperation, RevisionRecording, record_upgrade

__all__ = ["RULES", "LintFinding", "LintReport", "lint_revisions", "model_columns"]

#: rule -> the safe alternative
RULES: dict[str, str] = {
    "create-index": "build it concurrently: op.create_index(..., postgresql_concurrently=True) inside "
    "`with op.get_context().autocommit_block():` (IndexDef(concurrently=True) makes makemigrations write that)",
    "concurrently-in-transaction": "put it inside `with op.get_context().autocommit_block():` (PostgreSQL "
    "refuses CONCURRENTLY in a transaction block)",
    "volatile-default": "add the column without a default (or with a constant one), fill it in batches, then "
    "set the default with op.alter_column(..., server_default=...)",
    "add-not-null": "give the column a server default, or add it nullable, fill it and then set NOT NULL "
    "(makemigrations does this for a field with a default=)",
    "set-not-null": "first add CHECK (<column> IS NOT NULL) NOT VALID (op.create_check_constraint(..., "
    "postgresql_not_valid=True)) and VALIDATE CONSTRAINT it (a revision of its own, or an autocommit block); "
    "SET NOT NULL then skips the scan; drop the check afterwards",
    "foreign-key": "add it NOT VALID (op.create_foreign_key(..., postgresql_not_valid=True)), then "
    "ALTER TABLE ... VALIDATE CONSTRAINT ... in a later revision",
    "column-type": "add a column of the new type, fill it in batches, move the code to it, then drop the old "
    "column",
    "drop-column": "remove the field from the models and deploy that first; drop the column in a later release",
    "drop-table": "remove the model and deploy that first; drop the table in a later release",
    "rename-column": "rename the field in the models in the same release (makemigrations --rename); on a busy "
    "table expand and contract instead: add the new column, write both, fill it, move reads, drop the old one",
    "rename-table": "rename the model's table in the same release (makemigrations --rename); on a busy table "
    "expand and contract instead: a new table, written both ways, then the old one dropped",
    "enum-add-value": "run it inside `with op.get_context().autocommit_block():` (PostgreSQL before 12 refuses "
    "ADD VALUE in a transaction; from 12 the new value cannot be used before the transaction commits)",
}

_IGNORE = re.compile(r"#\s*matrx-orm:\s*lint-ignore\b(.*)$")
_VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "txid_current",
        "pg_current_xact_id",
    }
)
_FUNCTION_CALL = re.compile(r"([A-Za-z_][\w$]*)\s*\(")

TableKey = tuple[str | None, str]


@dataclass(frozen=True)
class LintFinding:
    """One unsafe operation: where it is, which rule, what is wrong and what to do instead."""

    revision: str
    path: Path
    line: int
    rule: str
    problem: str

    @property
    def fix(self) -> str:
        return RULES[self.rule]

    def describe(self) -> str:
        return f"{self.path.name}:{self.line}: {self.rule}: {self.problem}. Instead: {self.fix}."


@dataclass
class LintReport:
    """The findings of :func:`lint_revisions` (``ignored``: silenced by a lint-ignore comment)."""

    checked: list[str] = field(default_factory=list)
    findings: list[LintFinding] = field(default_factory=list)
    ignored: list[LintFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


# -- names and SQL text ----------------------------------------------------------------------------------------


def _schema(schema: str | None) -> str | None:
    return None if schema in (None, "", "public") else schema


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _table_key(qualified: str) -> TableKey:
    parts = re.findall(r'"(?:[^"]|"")+"|[^.]+', qualified)
    names = [_unquote(p) for p in parts]
    return (_schema(names[0]), names[1]) if len(names) > 1 else (None, names[0])


def _label(key: TableKey) -> str:
    return f"{key[0]}.{key[1]}" if key[0] else key[1]


def _sql_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    text = getattr(value, "text", None)
    if isinstance(text, str):
        return text
    try:
        return str(value.compile(compile_kwargs={"literal_binds": True}))
    except Exception:  # a construct that does not compile alone
        return str(value)


def _default_text(column: sa.Column[Any]) -> str | None:
    default = column.server_default
    if default is None:
        return None
    return _sql_text(getattr(default, "arg", default))


def _is_volatile(sql: str | None) -> bool:
    return sql is not None and any(f.lower() in _VOLATILE_FUNCTIONS for f in _FUNCTION_CALL.findall(sql))


def _statements(sql: str) -> Iterator[str]:
    for part in sql.split(";"):
        text = " ".join(part.split())
        if text:
            yield text


def _mentions_not_null(expression: str, column: str) -> bool:
    pattern = rf'(?:^|[^\w"]){re.escape(column)}"?\s+IS\s+NOT\s+NULL'
    return re.search(pattern, expression, re.IGNORECASE) is not None


# -- column types ------------------------------------------------------------------------------------------------


def _text_widening(old: Any, new: Any) -> bool:
    if not isinstance(old, sa.String) or not isinstance(new, sa.String):
        return False
    if isinstance(new, sa.Text) or new.length is None:
        return True
    return not isinstance(old, sa.Text) and old.length is not None and new.length >= old.length


def _numeric_widening(old: Any, new: Any) -> bool:
    if not isinstance(old, sa.Numeric) or not isinstance(new, sa.Numeric):
        return False
    if isinstance(old, sa.Float) or isinstance(new, sa.Float):
        return False
    if new.precision is None:
        return True
    return (
        old.precision is not None and new.precision >= old.precision and (old.scale or 0) == (new.scale or 0)
    )


def _rewrites_table(old: Any, new: Any) -> bool:
    """Whether changing a column from type ``old`` to ``new`` rewrites (or scans) the table."""
    if old is None:
        return True
    if _text_widening(old, new) or _numeric_widening(old, new):
        return False
    try:
        dialect = postgresql.dialect()
        return str(old.compile(dialect=dialect)) != str(new.compile(dialect=dialect))
    except Exception:  # a type that does not compile alone: assume the worst
        return True


# -- comments ----------------------------------------------------------------------------------------------------


class _SourceComments:
    """``# matrx-orm: lint-ignore`` comments of a revision file, matched to the statement of a line."""

    def __init__(self, path: Path) -> None:
        source = path.read_text(encoding="utf-8")
        self.lines = source.splitlines()
        self.ignores: dict[int, set[str] | None] = {}
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                match = _IGNORE.search(token.string)
                if match:
                    rules = {r for r in re.split(r"[\s,]+", match.group(1)) if r}
                    self.ignores[token.start[0]] = rules or None
        self.spans = sorted(
            (node.lineno, node.end_lineno or node.lineno)
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.stmt)
            and not isinstance(node, ast.FunctionDef | ast.With | ast.If | ast.For | ast.Try)
        )

    def _span(self, line: int) -> tuple[int, int]:
        inside = [s for s in self.spans if s[0] <= line <= s[1]]
        return min(inside, key=lambda s: s[1] - s[0]) if inside else (line, line)

    def ignored(self, line: int, rule: str) -> bool:
        if not self.ignores or line <= 0:
            return False
        first, last = self._span(line)
        candidates = list(range(first, last + 1))
        above = first - 1
        while above >= 1 and self.lines[above - 1].strip().startswith("#"):
            candidates.append(above)
            above -= 1
        for number in candidates:
            if number in self.ignores:
                rules = self.ignores[number]
                if rules is None or rule in rules:
                    return True
        return False


# -- the rules -----------------------------------------------------------------------------------------------------

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_QNAME = rf"({_IDENT}(?:\.{_IDENT})?)"
_KEYWORDS = frozenset({"constraint", "primary", "unique", "foreign", "check", "exclude", "column"})


@dataclass
class _ChainState:
    """What earlier revisions established: validated ``IS NOT NULL`` checks, per table."""

    not_null_checks: dict[TableKey, list[str]] = field(default_factory=dict)


class _RevisionLinter:
    """The rules, applied to the recorded operations of one revision."""

    def __init__(self, models: dict[TableKey, set[str]] | None, state: _ChainState) -> None:
        self.models = models
        self.state = state
        self.created: set[TableKey] = set()
        self.added: set[tuple[TableKey, str]] = set()
        #: constraint name -> (table, expression) of CHECKs added NOT VALID and not validated yet
        self.unvalidated: dict[str, tuple[TableKey, str]] = {}
        self.problems: list[tuple[int, str, str]] = []

    # -- helpers
    def _existing(self, key: TableKey) -> bool:
        return key not in self.created

    def _report(self, line: int, rule: str, problem: str) -> None:
        self.problems.append((line, rule, problem))

    def _model_has(self, key: TableKey, column: str | None = None) -> bool:
        if self.models is None or key not in self.models:
            return False
        return column is None or column in self.models[key]

    def _valid_not_null(self, key: TableKey, column: str) -> bool:
        return any(_mentions_not_null(e, column) for e in self.state.not_null_checks.get(key, []))

    # -- operations
    def lint(self, recorded: Iterable[RecordedOperation]) -> list[tuple[int, str, str]]:
        for item in recorded:
            self._operation(item.operation, item.line, item.in_autocommit)
        return self.problems

    def _operation(self, operation: ops.MigrateOperation, line: int, autocommit: bool) -> None:
        if isinstance(operation, ops.ModifyTableOps):
            for child in operation.ops:
                self._operation(child, line, autocommit)
        elif isinstance(operation, ops.CreateTableOp):
            self.created.add((_schema(operation.schema), operation.table_name))
        elif isinstance(operation, ops.CreateIndexOp | ops.DropIndexOp):
            self._index(operation, line, autocommit)
        elif isinstance(operation, ops.AddColumnOp):
            self._add_column(operation, line)
        elif isinstance(operation, ops.AlterColumnOp):
            self._alter_column(operation, line)
        elif isinstance(operation, ops.CreateForeignKeyOp):
            self._foreign_key(operation, line)
        elif isinstance(operation, ops.CreateCheckConstraintOp):
            self._check(operation)
        elif isinstance(operation, ops.DropColumnOp):
            self._drop(_key(operation), operation.column_name, line)
        elif isinstance(operation, ops.DropTableOp):
            self._drop(_key(operation), None, line)
        elif isinstance(operation, ops.RenameTableOp):
            self._rename_table(_key(operation), line)
        elif isinstance(operation, ops.ExecuteSQLOp):
            for statement in _statements(_sql_text(operation.sqltext)):
                self._sql(statement, line, autocommit)

    def _index(self, operation: ops.CreateIndexOp | ops.DropIndexOp, line: int, autocommit: bool) -> None:
        concurrently = bool(operation.kw.get("postgresql_concurrently"))
        verb = "create" if isinstance(operation, ops.CreateIndexOp) else "drop"
        if concurrently and not autocommit:
            self._report(
                line,
                "concurrently-in-transaction",
                f"{verb}_index {operation.index_name} with postgresql_concurrently=True runs in the "
                "revision's transaction, which PostgreSQL refuses",
            )
        elif verb == "create" and not concurrently and operation.table_name is not None:
            key = (_schema(operation.schema), operation.table_name)
            if self._existing(key):
                self._report(
                    line,
                    "create-index",
                    f"create_index {operation.index_name} on the existing table {_label(key)} blocks its "
                    "writes while the index builds",
                )

    def _add_column(self, operation: ops.AddColumnOp, line: int) -> None:
        key, column = _key(operation), operation.column
        self.added.add((key, column.name))
        if not self._existing(key):
            return
        default = _default_text(column)
        if column.identity is not None or _is_volatile(default):
            what = "an identity column" if column.identity is not None else f"a volatile default ({default})"
            self._report(
                line,
                "volatile-default",
                f"add_column {_label(key)}.{column.name} with {what} rewrites the whole table under an "
                "exclusive lock",
            )
        elif not column.nullable and default is None:
            self._report(
                line,
                "add-not-null",
                f"add_column {_label(key)}.{column.name} is NOT NULL with no server default: it fails when "
                f"{_label(key)} has rows",
            )

    def _alter_column(self, operation: ops.AlterColumnOp, line: int) -> None:
        key, column = _key(operation), operation.column_name
        if not self._existing(key):
            return
        if operation.modify_nullable is False:
            self._set_not_null(key, column, line)
        if operation.modify_type is not None and _rewrites_table(
            operation.existing_type, operation.modify_type
        ):
            self._column_type(key, column, line)
        if operation.modify_name is not None and self._model_has(key, column):
            self._report(
                line,
                "rename-column",
                f"alter_column renames {_label(key)}.{column} to {operation.modify_name}, but the models still "
                f"use {column}",
            )

    def _set_not_null(self, key: TableKey, column: str, line: int) -> None:
        if (key, column) in self.added or self._valid_not_null(key, column):
            return
        self._report(
            line,
            "set-not-null",
            f"SET NOT NULL on {_label(key)}.{column} scans the whole table under an exclusive lock",
        )

    def _column_type(self, key: TableKey, column: str, line: int) -> None:
        self._report(
            line,
            "column-type",
            f"changing the type of {_label(key)}.{column} rewrites the table (or scans it) under an exclusive lock",
        )

    def _foreign_key(self, operation: ops.CreateForeignKeyOp, line: int) -> None:
        key = (_schema(operation.kw.get("source_schema")), operation.source_table)
        if self._existing(key) and not operation.kw.get("postgresql_not_valid"):
            self._report(
                line,
                "foreign-key",
                f"create_foreign_key {operation.constraint_name} on {_label(key)} checks every row while "
                f"locking {_label(key)} and {operation.referent_table} against writes",
            )

    def _check(self, operation: ops.CreateCheckConstraintOp) -> None:
        key, expression = _key(operation), _sql_text(operation.condition)
        if operation.kw.get("postgresql_not_valid"):
            self.unvalidated[str(operation.constraint_name)] = (key, expression)
        else:
            self.state.not_null_checks.setdefault(key, []).append(expression)

    def _drop(self, key: TableKey, column: str | None, line: int) -> None:
        if not self._model_has(key, column):
            return
        if column is None:
            self._report(line, "drop-table", f"drops table {_label(key)}, which the models still use")
        else:
            self._report(line, "drop-column", f"drops {_label(key)}.{column}, which the models still use")

    def _rename_table(self, key: TableKey, line: int) -> None:
        if self._model_has(key):
            self._report(line, "rename-table", f"renames table {_label(key)}, which the models still use")

    # -- raw SQL
    def _sql(self, statement: str, line: int, autocommit: bool) -> None:
        index = re.match(
            rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:{_IDENT}\s+)?"
            rf"ON\s+(?:ONLY\s+)?{_QNAME}",
            statement,
            re.IGNORECASE,
        )
        if index:
            self._sql_index(bool(index.group(1)), _table_key(index.group(2)), line, autocommit)
        elif re.match(r"DROP\s+INDEX\s+CONCURRENTLY", statement, re.IGNORECASE) and not autocommit:
            self._report(line, "concurrently-in-transaction", "DROP INDEX CONCURRENTLY runs in a transaction")
        elif re.match(r"ALTER\s+TYPE\s+.+\s+ADD\s+VALUE", statement, re.IGNORECASE) and not autocommit:
            self._report(
                line, "enum-add-value", "ALTER TYPE ... ADD VALUE runs inside the revision's transaction"
            )
        elif table := re.match(
            rf"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_QNAME}\s+(.*)$", statement, re.IGNORECASE
        ):
            self._sql_alter_table(_table_key(table.group(1)), table.group(2), line)
        elif drop := re.match(r"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(.*)$", statement, re.IGNORECASE):
            for name in re.findall(_QNAME, drop.group(1)):
                if name.lower() not in ("cascade", "restrict"):
                    self._drop(_table_key(name), None, line)

    def _sql_index(self, concurrently: bool, key: TableKey, line: int, autocommit: bool) -> None:
        if concurrently and not autocommit:
            self._report(
                line, "concurrently-in-transaction", "CREATE INDEX CONCURRENTLY runs in a transaction"
            )
        elif not concurrently and self._existing(key):
            self._report(
                line,
                "create-index",
                f"CREATE INDEX on the existing table {_label(key)} blocks its writes while the index builds",
            )

    def _sql_alter_table(self, key: TableKey, actions: str, line: int) -> None:
        if not self._existing(key):
            return
        for action in re.split(r",\s*(?![^()]*\))", actions):
            self._sql_action(key, action.strip(), line)

    def _sql_action(self, key: TableKey, action: str, line: int) -> None:
        flags = re.IGNORECASE
        if check := re.match(
            rf"ADD\s+CONSTRAINT\s+({_IDENT})\s+CHECK\s*\((.*)\)\s*(NOT\s+VALID)?", action, flags
        ):
            if check.group(3):
                self.unvalidated[_unquote(check.group(1))] = (key, check.group(2))
            else:
                self.state.not_null_checks.setdefault(key, []).append(check.group(2))
        elif validate := re.match(rf"VALIDATE\s+CONSTRAINT\s+({_IDENT})", action, flags):
            found = self.unvalidated.pop(_unquote(validate.group(1)), None)
            if found is not None:
                self.state.not_null_checks.setdefault(found[0], []).append(found[1])
        elif re.match(rf"ADD\s+(?:CONSTRAINT\s+{_IDENT}\s+)?FOREIGN\s+KEY", action, flags):
            if not re.search(r"NOT\s+VALID", action, flags):
                self._report(
                    line, "foreign-key", f"ADD FOREIGN KEY on {_label(key)} checks every row under lock"
                )
        elif not_null := re.match(rf"ALTER\s+(?:COLUMN\s+)?({_IDENT})\s+SET\s+NOT\s+NULL", action, flags):
            self._set_not_null(key, _unquote(not_null.group(1)), line)
        elif retype := re.match(
            rf"ALTER\s+(?:COLUMN\s+)?({_IDENT})\s+(?:SET\s+DATA\s+)?TYPE\b", action, flags
        ):
            self._column_type(key, _unquote(retype.group(1)), line)
        else:
            self._sql_column_action(key, action, line)

    def _sql_column_action(self, key: TableKey, action: str, line: int) -> None:
        flags = re.IGNORECASE
        if add := re.match(
            rf"ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({_IDENT})\s+(.*)$", action, flags
        ):
            column = _unquote(add.group(1))
            if column in _KEYWORDS:
                return
            self.added.add((key, column))
            default = re.search(r"\bDEFAULT\s+(.*)$", add.group(2), flags)
            if default and _is_volatile(default.group(1)) or re.search(r"\bGENERATED\b", add.group(2), flags):
                self._report(
                    line, "volatile-default", f"ADD COLUMN {_label(key)}.{column} rewrites the table"
                )
            elif re.search(r"\bNOT\s+NULL\b", add.group(2), flags) and not default:
                self._report(
                    line, "add-not-null", f"ADD COLUMN {_label(key)}.{column} NOT NULL has no default"
                )
        elif drop := re.match(rf"DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?({_IDENT})", action, flags):
            if _unquote(drop.group(1)) not in _KEYWORDS:
                self._drop(key, _unquote(drop.group(1)), line)
        elif rename := re.match(rf"RENAME\s+(?:COLUMN\s+)?({_IDENT})\s+TO\s+{_IDENT}", action, flags):
            column = _unquote(rename.group(1))
            if column not in _KEYWORDS and self._model_has(key, column):
                self._report(
                    line, "rename-column", f"renames {_label(key)}.{column}, which the models still use"
                )
        elif re.match(r"RENAME\s+TO\s+", action, flags):
            self._rename_table(key, line)


def _key(operation: Any) -> TableKey:
    return (_schema(operation.schema), operation.table_name)


# -- the API -------------------------------------------------------------------------------------------------------


def model_columns(metadatas: Iterable[sa.MetaData]) -> dict[TableKey, set[str]]:
    """The column names of every model table, by ``(schema, table)``."""
    return {
        (_schema(table.schema), table.name): set(table.c.keys())
        for metadata in metadatas
        for table in metadata.tables.values()
    }


def _select(chain: list[Script], wanted: Iterable[str] | None) -> list[Script]:
    if wanted is None:
        return chain
    by_key: dict[str, Script] = {}
    for revision in chain:
        path = Path(revision.path)
        for key in (revision.revision, path.stem, path.name, str(path.resolve())):
            by_key[key] = revision
    selected: list[Script] = []
    for item in wanted:
        key = str(Path(item).resolve()) if item.endswith(".py") else item
        found = by_key.get(key)
        if found is None:
            known = ", ".join(Path(r.path).stem for r in chain) or "none"
            raise ParameterError(f"no revision {item!r} in the migrations folder (revisions: {known})")
        if found not in selected:
            selected.append(found)
    return [r for r in chain if r in selected]


def _findings(recording: RevisionRecording, problems: list[tuple[int, str, str]], report: LintReport) -> None:
    comments = _SourceComments(recording.path) if problems else None
    for line, rule, problem in problems:
        finding = LintFinding(recording.name, recording.path, line, rule, problem)
        if comments is not None and comments.ignored(line, rule):
            report.ignored.append(finding)
        else:
            report.findings.append(finding)


def lint_revisions(
    script: ScriptDirectory,
    revisions: Iterable[str] | None = None,
    *,
    models: dict[TableKey, set[str]] | None = None,
) -> LintReport:
    """Lint ``revisions`` (ids such as ``0003``, file names or paths; None: every revision) of ``script``.

    ``models`` (:func:`model_columns`) turns on the drop and rename rules. Revisions are read oldest first, so
    a check constraint validated by an earlier revision counts for a later ``SET NOT NULL``.
    """
    chain = list(reversed(list(script.walk_revisions())))
    selected = _select(chain, revisions)
    report = LintReport()
    if models is None:
        report.notes.append("models not loaded: the drop-column/drop-table/rename rules were not checked")
    state = _ChainState()
    for revision in chain[: chain.index(selected[-1]) + 1] if selected else []:
        recording = record_upgrade(revision)
        problems = _RevisionLinter(models, state).lint(recording.operations)
        if revision not in selected:
            continue
        report.checked.append(recording.name)
        if recording.error is not None:
            report.notes.append(
                f"{recording.path.name}:{recording.error_line}: upgrade() could not run without a database "
                f"({recording.error}); the operations after that point were not checked"
            )
        _findings(recording, problems, report)
    return report
