"""The migration linter (``lint_migrations`` / ``matrx-orm lint``): every rule on a revision that breaks it and on
one that does the same job the safe way. The linter reads revisions without a database, so these tests need none.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from matrx_orm import (
    CharField,
    DatabaseProjectConfig,
    IntegerField,
    Model,
    ParameterError,
    register_database,
    unregister_database,
)
from matrx_orm.migrations import RULES, lint_migrations
from matrx_orm.migrations.folder import ensure_folder

pytestmark = pytest.mark.level1

PROJECT = "lint_project"

BASE = """
op.create_table("lint_author", sa.Column("id", sa.Integer(), primary_key=True))
op.create_table(
    "lint_post",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("title", sa.String(100)),
    sa.Column("status", sa.String(20)),
    sa.Column("author_id", sa.Integer()),
    sa.Column("legacy", sa.Text()),
)
op.create_table("lint_old_log", sa.Column("id", sa.Integer(), primary_key=True))
op.execute("CREATE TYPE lint_mood AS ENUM ('happy', 'sad')")
"""


class LintAuthor(Model):
    _database = PROJECT
    _table_name = "lint_author"
    id = IntegerField(primary_key=True)


class LintPost(Model):
    _database = PROJECT
    _table_name = "lint_post"
    id = IntegerField(primary_key=True)
    title = CharField(max_length=100)
    status = CharField(max_length=20)
    author_id = IntegerField()


@pytest.fixture(scope="module", autouse=True)
def project() -> Iterator[str]:
    """The models' database project (never connected to: the linter only reads the models' tables)."""
    register_database(DatabaseProjectConfig(name=PROJECT, url="postgresql://lint@127.0.0.1:1/lint"))
    yield PROJECT
    unregister_database(PROJECT)


def write_revision(folder: Path, revision: str, down: str | None, body: str, name: str = "step") -> Path:
    upgrade = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    path = folder / "versions" / f"{revision}_{name}.py"
    path.write_text(
        f'"""{name}"""\n\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f"revision = {revision!r}\n"
        f"down_revision = {down!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade() -> None:\n{upgrade}\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )
    return path


def folder_with(tmp_path: Path, body: str) -> Path:
    folder = ensure_folder(tmp_path / "migrations", PROJECT)
    write_revision(folder, "0001", None, BASE, "base")
    write_revision(folder, "0002", "0001", body)
    return folder


def rules_found(tmp_path: Path, body: str) -> list[str]:
    report = lint_migrations(folder_with(tmp_path, body), ["0002"], database=PROJECT)
    assert report.checked == ["0002_step"]
    for finding in report.findings:  # every finding says where, what and what to do instead
        assert finding.path.name == "0002_step.py" and finding.line > 0
        assert f": {finding.rule}: " in finding.describe() and RULES[finding.rule] in finding.describe()
    return [f.rule for f in report.findings]


#: rule -> (an upgrade() body the rule reports, an upgrade() body doing the same job safely)
CASES: dict[str, tuple[str, str]] = {
    "create-index": (
        'op.create_index("ix_lint_post_title", "lint_post", ["title"])',
        """
        with op.get_context().autocommit_block():
            op.create_index("ix_lint_post_title", "lint_post", ["title"], postgresql_concurrently=True)
        """,
    ),
    "concurrently-in-transaction": (
        'op.create_index("ix_lint_post_title", "lint_post", ["title"], postgresql_concurrently=True)',
        """
        with op.get_context().autocommit_block():
            op.execute("CREATE INDEX CONCURRENTLY ix_lint_post_title ON lint_post (title)")
        """,
    ),
    "volatile-default": (
        'op.add_column("lint_post", sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()")))',
        'op.add_column("lint_post", sa.Column("created", sa.DateTime(), server_default=sa.text("now()")))',
    ),
    "add-not-null": (
        'op.add_column("lint_post", sa.Column("likes", sa.Integer(), nullable=False))',
        'op.add_column("lint_post", sa.Column("likes", sa.Integer(), nullable=False, server_default="0"))',
    ),
    "set-not-null": (
        'op.alter_column("lint_post", "title", nullable=False)',
        """
        op.create_check_constraint(
            "ck_title_nn", "lint_post", "title IS NOT NULL", postgresql_not_valid=True
        )
        op.execute("ALTER TABLE lint_post VALIDATE CONSTRAINT ck_title_nn")
        op.alter_column("lint_post", "title", nullable=False)
        op.drop_constraint("ck_title_nn", "lint_post", type_="check")
        """,
    ),
    "foreign-key": (
        'op.create_foreign_key("fk_post_author", "lint_post", "lint_author", ["author_id"], ["id"])',
        """
        op.create_foreign_key(
            "fk_post_author", "lint_post", "lint_author", ["author_id"], ["id"], postgresql_not_valid=True
        )
        """,
    ),
    "column-type": (
        'op.alter_column("lint_post", "status", type_=sa.Integer(), existing_type=sa.String(20))',
        'op.alter_column("lint_post", "status", type_=sa.String(40), existing_type=sa.String(20))',
    ),
    "drop-column": (
        'op.drop_column("lint_post", "status")',
        'op.drop_column("lint_post", "legacy")',
    ),
    "drop-table": (
        'op.drop_table("lint_author")',
        'op.drop_table("lint_old_log")',
    ),
    "rename-column": (
        'op.alter_column("lint_post", "title", new_column_name="headline")',
        'op.alter_column("lint_post", "legacy", new_column_name="notes")',
    ),
    "rename-table": (
        'op.rename_table("lint_author", "lint_writer")',
        'op.rename_table("lint_old_log", "lint_event_log")',
    ),
    "enum-add-value": (
        "op.execute(\"ALTER TYPE lint_mood ADD VALUE 'meh'\")",
        """
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE lint_mood ADD VALUE IF NOT EXISTS 'meh'")
        """,
    ),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_reports_the_unsafe_revision_and_passes_the_safe_one(rule: str, tmp_path: Path) -> None:
    unsafe, safe = CASES[rule]
    assert rules_found(tmp_path / "unsafe", unsafe) == [rule]
    assert rules_found(tmp_path / "safe", safe) == []


RAW_SQL_CASES: list[tuple[str, list[str]]] = [
    ('op.execute("CREATE INDEX ix_t ON lint_post (title)")', ["create-index"]),
    ('op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ix_t ON public.lint_post (title)")', ["create-index"]),
    ('op.execute("CREATE INDEX CONCURRENTLY ix_t ON lint_post (title)")', ["concurrently-in-transaction"]),
    ('op.execute("DROP INDEX CONCURRENTLY ix_t")', ["concurrently-in-transaction"]),
    ('op.execute("ALTER TABLE lint_post ADD COLUMN n integer DEFAULT random()")', ["volatile-default"]),
    ('op.execute("ALTER TABLE lint_post ADD COLUMN n integer NOT NULL")', ["add-not-null"]),
    ('op.execute("ALTER TABLE lint_post ADD COLUMN n integer NOT NULL DEFAULT 0")', []),
    ('op.execute("ALTER TABLE lint_post ALTER COLUMN title SET NOT NULL")', ["set-not-null"]),
    ('op.execute("ALTER TABLE lint_post ALTER COLUMN status TYPE integer USING 0")', ["column-type"]),
    (
        'op.execute("ALTER TABLE lint_post ADD CONSTRAINT f FOREIGN KEY (author_id) REFERENCES lint_author (id)")',
        ["foreign-key"],
    ),
    (
        'op.execute("ALTER TABLE lint_post ADD CONSTRAINT f FOREIGN KEY (author_id) '
        'REFERENCES lint_author (id) NOT VALID")',
        [],
    ),
    ('op.execute("ALTER TABLE lint_post DROP COLUMN status")', ["drop-column"]),
    ('op.execute("ALTER TABLE lint_post DROP COLUMN legacy")', []),
    ('op.execute("ALTER TABLE lint_post RENAME COLUMN title TO headline")', ["rename-column"]),
    ('op.execute("ALTER TABLE lint_author RENAME TO lint_writer")', ["rename-table"]),
    ('op.execute("DROP TABLE IF EXISTS lint_author, lint_old_log")', ["drop-table"]),
    (
        'op.execute("ALTER TABLE lint_post ADD CONSTRAINT c CHECK (title IS NOT NULL) NOT VALID; '
        'ALTER TABLE lint_post VALIDATE CONSTRAINT c; ALTER TABLE lint_post ALTER COLUMN title SET NOT NULL")',
        [],
    ),
]


@pytest.mark.parametrize(("body", "expected"), RAW_SQL_CASES)
def test_raw_sql_given_to_op_execute(body: str, expected: list[str], tmp_path: Path) -> None:
    assert rules_found(tmp_path, body) == expected


def test_tables_the_revision_creates_are_not_busy(tmp_path: Path) -> None:
    body = """
    op.create_table("lint_new", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("n", sa.Integer()))
    op.create_index("ix_lint_new_n", "lint_new", ["n"])
    op.add_column("lint_new", sa.Column("k", sa.Integer(), nullable=False))
    op.alter_column("lint_new", "n", nullable=False, type_=sa.BigInteger(), existing_type=sa.Integer())
    op.create_foreign_key("fk_new_author", "lint_new", "lint_author", ["n"], ["id"])
    """
    assert rules_found(tmp_path, body) == []


def test_lint_ignore_comment_silences_one_rule_of_one_operation(tmp_path: Path) -> None:
    body = """
    # the table is tiny: a plain index is fine
    # matrx-orm: lint-ignore create-index
    op.create_index("ix_a", "lint_post", ["title"])
    op.create_index(
        "ix_b",
        "lint_post",
        ["status"],  # matrx-orm: lint-ignore create-index, set-not-null
    )
    op.create_index("ix_c", "lint_post", ["author_id"])  # matrx-orm: lint-ignore set-not-null
    op.alter_column("lint_post", "title", nullable=False)  # matrx-orm: lint-ignore
    """
    report = lint_migrations(folder_with(tmp_path, body), ["0002"], database=PROJECT)
    assert [(f.rule, f.problem.split()[1]) for f in report.findings] == [("create-index", "ix_c")]
    assert sorted(f.rule for f in report.ignored) == ["create-index", "create-index", "set-not-null"]


def test_check_validated_by_an_earlier_revision_counts(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        """
        op.execute("ALTER TABLE lint_post ADD CONSTRAINT ck_t CHECK (title IS NOT NULL) NOT VALID")
        with op.get_context().autocommit_block():
            op.execute("ALTER TABLE lint_post VALIDATE CONSTRAINT ck_t")
        """,
    )
    write_revision(folder, "0003", "0002", 'op.alter_column("lint_post", "title", nullable=False)', "nn")
    write_revision(folder, "0004", "0003", 'op.alter_column("lint_post", "status", nullable=False)', "nn2")
    report = lint_migrations(folder, ["0003_nn", str(folder / "versions" / "0004_nn2.py")], database=PROJECT)
    assert report.checked == ["0003_nn", "0004_nn2"]
    assert [(f.revision, f.rule) for f in report.findings] == [("0004_nn2", "set-not-null")]


def test_selection_all_revisions_and_unknown_ones(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, 'op.create_index("ix_x", "lint_post", ["title"])')
    report = lint_migrations(folder, database=PROJECT)
    assert report.checked == ["0001_base", "0002_step"] and not report.ok
    assert [f.revision for f in report.findings] == ["0002_step"]
    with pytest.raises(ParameterError, match=r"no revision '0009' .*0001_base, 0002_step"):
        lint_migrations(folder, ["0009"])


def test_without_models_the_name_rules_are_skipped_with_a_note(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, 'op.drop_column("lint_post", "status")')
    report = lint_migrations(folder, ["0002"])
    assert report.ok and any("models not loaded" in note for note in report.notes)


def test_a_revision_that_reads_rows_is_noted(tmp_path: Path) -> None:
    body = """
    op.get_bind().execute(sa.text("CREATE INDEX ix_x ON lint_post (title)"))
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM lint_post")).scalar()
    op.alter_column("lint_post", "title", nullable=False)
    """
    folder = folder_with(tmp_path, body)
    report = lint_migrations(folder, ["0002"], database=PROJECT)
    assert [f.rule for f in report.findings] == ["create-index"]  # what ran before is still checked
    lines = (folder / "versions" / "0002_step.py").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "scalar()" in text)
    assert len(report.notes) == 1 and report.notes[0].startswith(
        f"0002_step.py:{line}: upgrade() could not run"
    )
