"""matrx_orm.exceptions: hierarchy, context, rendering, masking, suggestions and driver-error mapping (no DB)."""

from __future__ import annotations

import builtins
import pickle
from typing import Any

import asyncpg
import pytest

import matrx_orm
from matrx_orm import exceptions as exc_module
from matrx_orm.exceptions import (
    CacheError,
    ConfigurationError,
    ConnectionError,
    DatabaseError,
    DoesNotExist,
    FieldError,
    IntegrityError,
    MigrationError,
    MultipleObjectsReturned,
    OptimisticLockError,
    ORMException,
    ParameterError,
    QueryError,
    RelationshipError,
    StateError,
    TransactionError,
    UnknownDatabaseError,
    UnknownFieldError,
    UnknownLookupError,
    ValidationError,
    map_database_error,
    mask_secrets,
    mask_url_passwords,
)

# -- hierarchy --------------------------------------------------------------------------------------------------------

PARENTS = {
    ValidationError: ORMException,
    FieldError: ORMException,
    QueryError: ORMException,
    DoesNotExist: QueryError,
    MultipleObjectsReturned: QueryError,
    UnknownLookupError: QueryError,
    DatabaseError: ORMException,
    ConnectionError: DatabaseError,
    IntegrityError: DatabaseError,
    TransactionError: DatabaseError,
    OptimisticLockError: DatabaseError,
    UnknownDatabaseError: DatabaseError,
    ConfigurationError: ORMException,
    CacheError: ORMException,
    StateError: ORMException,
    RelationshipError: ORMException,
    MigrationError: ORMException,
    ParameterError: ORMException,
}


@pytest.mark.parametrize(("cls", "parent"), PARENTS.items(), ids=lambda c: getattr(c, "__name__", ""))
def test_hierarchy(cls: type[ORMException], parent: type[ORMException]) -> None:
    assert issubclass(cls, parent)
    assert issubclass(cls, Exception)
    assert getattr(exc_module, cls.__name__) is cls


def test_unknown_field_error_is_field_and_query_error() -> None:
    assert issubclass(UnknownFieldError, FieldError)
    assert issubclass(UnknownFieldError, QueryError)


def test_connection_error_is_not_the_builtin() -> None:
    assert ConnectionError is not builtins.ConnectionError
    assert not issubclass(ConnectionError, OSError)
    assert matrx_orm.ConnectionError is ConnectionError


def test_every_name_is_exported() -> None:
    for name in exc_module.__all__:
        assert hasattr(exc_module, name)


# -- context ----------------------------------------------------------------------------------------------------------


def test_context_attributes() -> None:
    class Post:
        pass

    err = DoesNotExist(
        "No Post matches",
        model=Post,
        operation="get",
        query="SELECT 1",
        params=[1],
        details={"a": 1},
        extra="x",
    )
    assert err.message == "No Post matches"
    assert err.model == "Post"
    assert err.operation == "get"
    assert err.query == "SELECT 1"
    assert err.params == [1]
    assert err.details == {"a": 1, "extra": "x"}
    assert err.args == ("No Post matches",)


def test_defaults() -> None:
    err = QueryError()
    assert err.message == "Query error"
    assert err.model is None and err.operation is None and err.query is None and err.params is None
    assert err.details == {}
    assert str(err) == "Query error"


def test_enrich_fills_only_missing_values() -> None:
    err = QueryError("bad", model="Inner", details={"filter": "a"})
    same = err.enrich(
        model="Outer", operation="all", query="SELECT", params=[1], details={"filter": "b", "x": 1}, y=2
    )
    assert same is err
    assert err.model == "Inner"
    assert err.operation == "all"
    assert err.query == "SELECT"
    assert err.params == [1]
    assert err.details == {"filter": "a", "x": 1, "y": 2}
    err.enrich(operation="other", query="OTHER")
    assert err.operation == "all" and err.query == "SELECT"


def test_enrich_model_class_becomes_name() -> None:
    err = ParameterError("x").enrich(model=int)
    assert err.model == "int"


def test_pickle_keeps_context() -> None:
    err = IntegrityError("dup", model="User", operation="create", details={"constraint_name": "c"})
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is IntegrityError
    assert (copy.message, copy.model, copy.operation, copy.details) == ("dup", "User", "create", err.details)
    unknown = pickle.loads(pickle.dumps(UnknownFieldError(name="usrname", choices=["username"])))
    assert unknown.name == "usrname" and unknown.suggestions == ["username"]


# -- rendering ----------------------------------------------------------------------------------------------------------


def test_str_renders_block_like_the_contract() -> None:
    err = UnknownDatabaseError(
        "Unexpected database error during execute_query: boom",
        model="Post",
        operation="QueryExecutor.all()",
        query="SELECT * FROM post WHERE author_id = $1",
        params=["4cf62e4e"],
        details={"filters": {"author_id": "4cf62e4e"}},
    )
    text = str(err)
    lines = text.splitlines()
    assert lines[0] == "=" * 80 and lines[-1] == "=" * 80
    assert lines[1] == "[ERROR in Post: QueryExecutor.all()]"
    assert "Message: Unexpected database error during execute_query: boom" in lines
    assert "Context:" in lines
    assert "  query:   SELECT * FROM post WHERE author_id = $1" in lines
    assert "  params:  ['4cf62e4e']" in lines
    assert "  filters: {'author_id': '4cf62e4e'}" in lines


def test_str_is_short_without_context() -> None:
    assert str(ConfigurationError("no database")) == "no database"
    assert str(StateError("broken", model="User")) == "[User] broken"
    assert str(StateError("User is broken", model="User", operation="save")) == "[save] User is broken"
    assert "\n" not in str(QueryError("x", model="M", operation="get"))


def test_multiline_query_is_indented() -> None:
    text = str(QueryError("x", query="SELECT *\nFROM t"))
    assert "  query: SELECT *\n         FROM t" in text


def test_huge_values_are_truncated() -> None:
    text = str(QueryError("x", params=[0.5] * 5000))
    assert len(text) < 2000
    assert "chars)" in text


def test_repr() -> None:
    assert repr(DoesNotExist("none", model="User")) == "DoesNotExist('none', model='User')"


# -- masking -----------------------------------------------------------------------------------------------------------


def test_secret_params_are_masked() -> None:
    err = QueryError(
        "x",
        params={
            "user": "bob",
            "password": "hunter2",
            "API_KEY": "k1",
            "access_token": "t",
            "clientSecret": "s",
        },
        details={"nested": {"db_passwd": "p2", "ok": 1}, "token": "t2"},
    )
    text = str(err)
    for secret in ("hunter2", "k1", "'t'", "'s'", "p2", "t2"):
        assert secret not in text
    assert "bob" in text and "'ok': 1" in text
    assert text.count("********") == 6
    assert err.params["password"] == "hunter2"  # the attribute keeps the real value for the program


def test_url_passwords_are_masked_in_message_and_details() -> None:
    err = ConnectionError(
        "cannot connect to postgresql://bob:s3cret@db.example.com:5432/app",
        details={"url": "postgresql+asyncpg://bob:other@host/db", "dsn": "host=h password=pw3 user=u"},
    )
    text = str(err)
    assert "s3cret" not in text and "other" not in text and "pw3" not in text
    assert "postgresql://bob:********@db.example.com:5432/app" in err.message
    assert "postgresql+asyncpg://bob:********@host/db" in text
    assert "password=********" in text


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:********@h/db"),
        ("postgresql://u:p@ss@h:5/db", "postgresql://u:********@h:5/db"),
        ("'postgres://u:pw@h'", "'postgres://u:********@h'"),
        ("postgresql://postgres:@/db?host=/tmp", "postgresql://postgres:@/db?host=/tmp"),
        ("postgresql://host:5432/db", "postgresql://host:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("UPDATE u SET password = $1", "UPDATE u SET password = $1"),
        ('password authentication failed for user "bob"', 'password authentication failed for user "bob"'),
    ],
)
def test_mask_url_passwords(raw: str, masked: str) -> None:
    assert mask_url_passwords(raw) == masked


def test_mask_secrets_is_recursive_and_copies() -> None:
    value: dict[str, Any] = {"a": [{"password": "x"}, ("postgresql://u:p@h/d",)], "secret": None}
    masked = mask_secrets(value)
    assert masked == {"a": [{"password": "********"}, ("postgresql://u:********@h/d",)], "secret": None}
    assert value["a"][0] == {"password": "x"}


# -- ValidationError ----------------------------------------------------------------------------------------------------


def test_validation_error_builds_message() -> None:
    err = ValidationError(model="User", field="age", value="abc", reason="expected an int")
    assert err.message == "Invalid value 'abc' for field 'age' on model 'User': expected an int"
    assert (err.field, err.value, err.reason, err.model) == ("age", "abc", "expected an int", "User")
    assert err.has_value


def test_validation_error_value_none_vs_missing() -> None:
    assert ValidationError(field="f", value=None).message == "Invalid value None for field 'f'"
    missing = ValidationError(field="f")
    assert missing.message == "Invalid value for field 'f'"
    assert missing.value is None and not missing.has_value


def test_validation_error_explicit_message_wins() -> None:
    err = ValidationError("custom", field="f", value=1, model="M")
    assert err.message == "custom" and err.field == "f" and err.value == 1


# -- unknown names ----------------------------------------------------------------------------------------------------


def test_unknown_field_suggestions() -> None:
    err = UnknownFieldError(name="usrname", choices=["username", "email", "id"], model="User")
    assert err.name == "usrname"
    assert err.suggestions == ["username"]
    assert err.message == (
        "Unknown field 'usrname' on model 'User'. Did you mean: 'username'? Available: email, id, username"
    )


def test_unknown_lookup_several_suggestions() -> None:
    err = UnknownLookupError(name="icontain", choices=["icontains", "contains", "exact", "in"], model="User")
    assert err.suggestions[0] == "icontains"
    assert "Did you mean: 'icontains' or 'contains'?" in err.message
    assert isinstance(err, QueryError) and not isinstance(err, FieldError)


def test_unknown_name_case_insensitive_match_first() -> None:
    err = UnknownFieldError(name="EMAIL", choices=["email", "mail", "emails"])
    assert err.suggestions[0] == "email"
    assert err.message.startswith("Unknown field 'EMAIL'.")


def test_unknown_name_without_close_match_and_many_choices() -> None:
    choices = [f"field_{i:02d}" for i in range(40)]
    err = UnknownFieldError(name="zzz", choices=choices, model="Wide")
    assert err.suggestions == []
    assert "Did you mean" not in err.message
    assert "(15 more)" in err.message


# -- map_database_error (driver exceptions built by hand; the real ones are in test_engine.py) ---------------------------


def _pg(cls: type[asyncpg.PostgresError], message: str, **fields: str) -> asyncpg.PostgresError:
    err = cls(message)
    for key, value in fields.items():
        setattr(err, key, value)
    return err


@pytest.mark.parametrize(
    ("cls", "violation"),
    [
        (asyncpg.UniqueViolationError, "unique"),
        (asyncpg.ForeignKeyViolationError, "foreign_key"),
        (asyncpg.NotNullViolationError, "not_null"),
        (asyncpg.CheckViolationError, "check"),
        (asyncpg.ExclusionViolationError, "exclusion"),
    ],
)
def test_integrity_violations(cls: type[asyncpg.PostgresError], violation: str) -> None:
    source = _pg(
        cls, "violated", constraint_name="c1", table_name="t", column_name="col", detail="Key (a)=(1)"
    )
    mapped = map_database_error(source, model="User", operation="create", query="INSERT", params=[1])
    assert isinstance(mapped, IntegrityError)
    assert mapped.details["violation"] == violation
    assert mapped.details["sqlstate"] == cls.sqlstate
    assert mapped.details["constraint_name"] == "c1"
    assert mapped.details["table_name"] == "t"
    assert mapped.details["column_name"] == "col"
    assert mapped.message == "violated (Key (a)=(1))"
    assert (mapped.model, mapped.operation, mapped.query, mapped.params) == ("User", "create", "INSERT", [1])
    assert mapped.__cause__ is source


@pytest.mark.parametrize(
    "source",
    [
        builtins.ConnectionRefusedError(111, "Connect call failed"),
        OSError("Name or service not known"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.PostgresConnectionError("x"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InvalidPasswordError("password authentication failed"),
        asyncpg.InvalidCatalogNameError('database "x" does not exist'),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InterfaceError("pool is closing"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_connection_failures(source: BaseException) -> None:
    mapped = map_database_error(source)
    assert isinstance(mapped, ConnectionError)
    assert mapped.__cause__ is source


def test_timeout_while_connecting_vs_statement_timeout() -> None:
    assert isinstance(map_database_error(TimeoutError(), operation="connect"), ConnectionError)
    assert isinstance(map_database_error(TimeoutError(), operation="acquire"), ConnectionError)
    slow = map_database_error(TimeoutError(), operation="all")
    assert type(slow) is DatabaseError
    assert "timed out" in slow.message


@pytest.mark.parametrize(
    "cls", [asyncpg.SerializationError, asyncpg.DeadlockDetectedError, asyncpg.InFailedSQLTransactionError]
)
def test_transaction_failures(cls: type[asyncpg.PostgresError]) -> None:
    assert isinstance(map_database_error(cls("x")), TransactionError)


def test_data_and_other_postgres_errors_are_database_errors() -> None:
    data = map_database_error(
        _pg(asyncpg.InvalidTextRepresentationError, "invalid input syntax for type uuid")
    )
    assert type(data) is DatabaseError
    assert data.details["sqlstate"] == "22P02"
    syntax = map_database_error(asyncpg.PostgresSyntaxError("syntax error at or near"))
    assert type(syntax) is DatabaseError
    client = map_database_error(asyncpg.exceptions._base.DataError("invalid input for query argument $1"))
    assert isinstance(client, DatabaseError)


def test_anything_else_is_unknown_database_error() -> None:
    source = RuntimeError("weird")
    mapped = map_database_error(source, operation="all", details={"database": "main"})
    assert type(mapped) is UnknownDatabaseError
    assert mapped.message == "Unexpected database error: RuntimeError: weird"
    assert mapped.details == {"database": "main"}


def test_orm_exception_is_enriched_not_wrapped() -> None:
    original = DoesNotExist("none", details={"filters": {}})
    mapped = map_database_error(original, model="User", operation="get", details={"database": "main"})
    assert mapped is original
    assert original.model == "User"
    assert original.details == {"filters": {}, "database": "main"}


def test_caller_can_chain_with_raise_from() -> None:
    source = asyncpg.UniqueViolationError("dup")
    with pytest.raises(IntegrityError) as info:
        try:
            raise source
        except asyncpg.PostgresError as exc:
            raise map_database_error(exc) from exc
    assert info.value.__cause__ is source


# -- masking: tricky inputs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (
            "postgresql://u@h:5432/db?password=S3cret&sslmode=require",
            "postgresql://u@h:5432/db?password=********&sslmode=require",
        ),
        (
            "postgresql://u@h:5432/db?sslmode=require&password=S3cret",
            "postgresql://u@h:5432/db?sslmode=require&password=********",
        ),
        ("password=S3cret: refused", "password=********: refused"),
        ("(password=S3cret). next", "(password=********). next"),
        ("postgresql://u:p@ss@h:5432/db", "postgresql://u:********@h:5432/db"),
        ("postgresql://u:p:ss@h:5432/db", "postgresql://u:********@h:5432/db"),
        ("postgresql://u:p/ss@h:5432/db", "postgresql://u:********@h:5432/db"),
        ("postgresql://u:p?ss#x@h:5432/db", "postgresql://u:********@h:5432/db"),
        ("postgresql://u:p%40s%3As@h:5432/db", "postgresql://u:********@h:5432/db"),
        ("postgres://u:S3cret@h/db", "postgres://u:********@h/db"),
        (
            "postgresql+asyncpg://u:S3cret@h:5432/db?sslmode=require",
            "postgresql+asyncpg://u:********@h:5432/db?sslmode=require",
        ),
        ("postgresql://u:S3cret@[::1]:5432/db", "postgresql://u:********@[::1]:5432/db"),
        ("postgresql://u:S3cret@h1:5432,h2:5433/db", "postgresql://u:********@h1:5432,h2:5433/db"),
        ("postgresql://u:S3cret@/db?host=/var/run/pg", "postgresql://u:********@/db?host=/var/run/pg"),
        (
            'failed: "postgresql://u:S3cret@h:5432/db?password=S3cret": refused',
            'failed: "postgresql://u:********@h:5432/db?password=********": refused',
        ),
        ("host=h password='a b' dbname=d", "host=h password='********' dbname=d"),
        ("host=h password='a\\'b c' port=5", "host=h password='********' port=5"),
        ('host=h password="x y" port=5', 'host=h password="********" port=5'),
        ("host=h password=S3cret dbname=d", "host=h password=******** dbname=d"),
        ("PGPASSWORD=S3cret psql", "PGPASSWORD=******** psql"),
        ('{"password": "S3cret", "user": "u"}', '{"password": "********", "user": "u"}'),
        ("{'password': 'S3cret', 'host': 'h'}", "{'password': '********', 'host': 'h'}"),
        ("password=", "password="),
        ("password = %s", "password = %s"),
        ("for field 'password': expected a string", "for field 'password': expected a string"),
    ],
)
def test_mask_url_passwords_replaces_only_the_secret(raw: str, masked: str) -> None:
    assert mask_url_passwords(raw) == masked
    assert mask_secrets({"text": raw}) == {"text": masked}


def test_mask_url_passwords_takes_the_mask() -> None:
    assert (
        mask_url_passwords("postgresql://u:pw@h/d?password=pw", "****")
        == "postgresql://u:****@h/d?password=****"
    )


# -- the command line's connection error line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:S3cret@127.0.0.1:1/db",
        "postgresql://u@127.0.0.1:1/db?password=S3cret",
        "postgresql://u:p%40S3cret@127.0.0.1:1/db?sslmode=disable&password=S3cret",
    ],
)
def test_cli_connection_error_names_the_server_and_masks_the_password(url: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    argv = ["generate", "--database-url", url, "--output-dir", str(tmp_path / "out")]
    proc = subprocess.run(
        [sys.executable, "-m", "matrx_orm", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert "S3cret" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(
        "matrx-orm: error: cannot connect to postgresql://u:********@127.0.0.1:1/db: "
    )


def test_cli_error_line_names_the_database_of_an_unmapped_connection_failure() -> None:
    import argparse

    from matrx_orm.cli.options import connection_failure_line

    refused = builtins.ConnectionRefusedError(111, "Connect call failed")
    args = argparse.Namespace(database_url="postgresql://u@127.0.0.1:1/db?password=S3cret&sslmode=disable")
    line = connection_failure_line("ConnectionRefusedError: Connect call failed", refused, args)
    assert (
        line
        == "cannot connect to postgresql://u:********@127.0.0.1:1/db: ConnectionRefusedError: Connect call failed"
    )
    # a line with a URL already keeps it (masked); other failures are only masked
    shown = connection_failure_line("cannot connect to postgresql://u:S3cret@h/db: x", refused, args)
    assert shown == "cannot connect to postgresql://u:********@h/db: x"
    assert connection_failure_line("ValueError: password=S3cret", ValueError("x"), args) == (
        "ValueError: password=********"
    )
    unknown = argparse.Namespace(database="no_such_project_here")
    assert connection_failure_line("OSError: x", refused, unknown) == "OSError: x"
