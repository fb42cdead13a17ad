"""matrx_orm.config: DatabaseProjectConfig validation / URLs / masking and the project registry (no DB)."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator

import pytest

import matrx_orm
from matrx_orm import config as cfg
from matrx_orm.config import (
    DatabaseProjectConfig,
    add_registry_listener,
    get_all_database_project_names,
    get_connection_string,
    get_database_alias,
    get_database_config,
    get_schema_builder_overrides,
    register_database,
    register_database_from_env,
    remove_registry_listener,
    resolve_database_name,
    unregister_database,
)
from matrx_orm.exceptions import ConfigurationError


@pytest.fixture
def names() -> Iterator[list[str]]:
    """Project names a test registers; all unregistered afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        unregister_database(name)


def _unique(prefix: str = "cfg") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# -- the model --------------------------------------------------------------------------------------------------------


def test_contract_quick_start_fields() -> None:
    config = DatabaseProjectConfig(
        name="my_project",
        host="localhost",
        port="5432",
        database_name="my_db",
        user="postgres",
        password="secret",
        alias="main",
    )
    assert config.port == "5432" and config.port_int == 5432
    assert config.password == "secret"
    assert config.protocol == "postgresql"
    assert config.additional_schemas == [] and config.entity_overrides == {} and config.field_overrides == {}
    assert config.manager_config_overrides == {}
    assert config.pooler_mode == "session" and config.ssl is None


def test_defaults() -> None:
    config = DatabaseProjectConfig(name="p")
    assert (config.host, config.port_int, config.database_name, config.user, config.password) == (
        "localhost",
        5432,
        "postgres",
        "postgres",
        "",
    )
    assert (config.pool_min_size, config.pool_max_size, config.command_timeout, config.connect_timeout) == (
        1,
        10,
        60,
        10,
    )
    assert (
        config.statement_cache_size == 1024 and config.migration_url is None and config.server_settings == {}
    )


def test_repr_and_str_never_show_the_password() -> None:
    config = DatabaseProjectConfig(name="p", password="hunter2", migration_url="postgresql://u:direct-pw@h/d")
    for text in (repr(config), str(config)):
        assert "hunter2" not in text and "direct-pw" not in text
        assert "password='****'" in text
    from_url = DatabaseProjectConfig(name="p", url="postgresql://u:urlpw@h/d")
    assert "urlpw" not in repr(from_url)
    assert from_url.password == "urlpw"


def test_asyncpg_connect_kwargs() -> None:
    config = DatabaseProjectConfig(
        name="p",
        host="db.example.com",
        port="6543",
        database_name="app",
        user="u",
        password="pw",
        ssl="require",
        command_timeout=30,
        connect_timeout=5,
        server_settings={"application_name": "svc"},
    )
    assert config.asyncpg_connect_kwargs() == {
        "host": "db.example.com",
        "port": 6543,
        "user": "u",
        "password": "pw",
        "database": "app",
        "ssl": "require",
        "timeout": 5,
        "command_timeout": 30,
        "statement_cache_size": 1024,
        "server_settings": {"application_name": "svc"},
    }


def test_empty_password_means_none_for_asyncpg() -> None:
    kwargs = DatabaseProjectConfig(name="p").asyncpg_connect_kwargs()
    assert kwargs["password"] is None and kwargs["ssl"] is None and kwargs["server_settings"] is None


def test_transaction_pooler_disables_statement_cache() -> None:
    config = DatabaseProjectConfig(name="p", pooler_mode="transaction", statement_cache_size=500)
    assert config.asyncpg_connect_kwargs()["statement_cache_size"] == 0
    assert config.sqlalchemy_url().query["prepared_statement_cache_size"] == "0"
    assert (
        DatabaseProjectConfig(name="p", statement_cache_size=0).asyncpg_connect_kwargs()[
            "statement_cache_size"
        ]
        == 0
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (False, None),
        (True, True),
        ("require", "require"),
        ("VERIFY-FULL", "verify-full"),
        ("true", True),
        ("disable", "disable"),
    ],
)
def test_ssl_values(value: object, expected: object) -> None:
    assert DatabaseProjectConfig(name="p", ssl=value).asyncpg_connect_kwargs()["ssl"] == expected


def test_ssl_context_is_accepted() -> None:
    context = ssl.create_default_context()
    assert DatabaseProjectConfig(name="p", ssl=context).asyncpg_connect_kwargs()["ssl"] is context


# -- URLs ---------------------------------------------------------------------------------------------------------------


def test_url_wins_and_fills_the_fields() -> None:
    config = DatabaseProjectConfig(
        name="p",
        host="ignored",
        port=1,
        url="postgresql+asyncpg://bob:p%40ss@db.example.com:6543/app?sslmode=require",
    )
    assert (config.host, config.port_int, config.user, config.password, config.database_name) == (
        "db.example.com",
        6543,
        "bob",
        "p@ss",
        "app",
    )
    assert config.ssl == "require"
    assert config.url is not None and config.url.startswith("postgresql+asyncpg://")


def test_url_unix_socket_dir() -> None:
    config = DatabaseProjectConfig(name="p", url="postgresql://postgres:@/dbname?host=/tmp/pg sock&port=5433")
    assert config.host == "/tmp/pg sock" and config.is_unix_socket
    assert config.port_int == 5433 and config.password == "" and config.database_name == "dbname"
    kwargs = config.asyncpg_connect_kwargs()
    assert kwargs["host"] == "/tmp/pg sock" and kwargs["port"] == 5433 and kwargs["password"] is None
    url = config.sqlalchemy_url()
    assert url.drivername == "postgresql+asyncpg" and url.host is None
    assert url.query["host"] == "/tmp/pg sock" and url.port == 5433 and url.database == "dbname"
    assert config.masked_url() == "postgresql://postgres@/dbname?host=/tmp/pg%20sock&port=5433"


def test_host_directory_is_a_socket() -> None:
    config = DatabaseProjectConfig(name="p", host="/var/run/postgresql", user="me")
    assert config.is_unix_socket
    assert config.sqlalchemy_url().query["host"] == "/var/run/postgresql"
    assert config.asyncpg_connect_kwargs()["host"] == "/var/run/postgresql"


def test_url_without_host_leaves_it_to_the_driver() -> None:
    config = DatabaseProjectConfig(name="p", url="postgresql:///mydb")
    assert config.host == "" and config.asyncpg_connect_kwargs()["host"] is None
    assert config.database_name == "mydb"


def test_url_extras() -> None:
    url = (
        "postgres://u:pw@h/d?connect_timeout=3&application_name=svc&options=-c%20search_path%3Dauth%2Cpublic"
    )
    config = DatabaseProjectConfig(name="p", url=url)
    assert config.connect_timeout == 3
    assert config.server_settings == {"application_name": "svc", "search_path": "auth,public"}
    pooled = DatabaseProjectConfig(name="p", url="postgres://u:pw@h/d?application_name=svc&pgbouncer=true")
    assert pooled.pooler_mode == "transaction" and pooled.server_settings == {"application_name": "svc"}
    with pytest.raises(ConfigurationError, match="search_path"):  # a pooler refuses that startup parameter
        DatabaseProjectConfig(name="p", url=f"{url}&pgbouncer=true")


@pytest.mark.parametrize("url", ["mysql://u:p@h/d", "not a url", "sqlite:///x.db"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigurationError, match="url"):
        DatabaseProjectConfig(name="p", url=url)


def test_bad_url_error_does_not_leak_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        DatabaseProjectConfig(name="p", url="mysql://u:topsecret@h/d")
    assert "topsecret" not in str(info.value)


def test_sqlalchemy_url_and_masked_url() -> None:
    config = DatabaseProjectConfig(
        name="p", host="h", port="5433", database_name="d", user="u", password="pw", ssl=True
    )
    url = config.sqlalchemy_url()
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.database, url.username, url.password) == ("h", 5433, "d", "u", "pw")
    assert url.query["ssl"] == "require"
    assert "pw" not in repr(url)
    assert config.masked_url() == "postgresql://u:****@h:5433/d"
    assert "pw" not in config.masked_url().replace("postgresql", "")


def test_masked_url_ipv6_and_no_password() -> None:
    assert (
        DatabaseProjectConfig(name="p", host="::1").masked_url()
        == "postgresql://postgres@[::1]:5432/postgres"
    )


def test_migration_url() -> None:
    config = DatabaseProjectConfig(
        name="p",
        url="postgresql://u:pw@pooler:6543/d",
        pooler_mode="transaction",
        migration_url="postgresql://u:pw@direct:5432/d",
    )
    assert config.sqlalchemy_url().host == "pooler"
    direct = config.sqlalchemy_url(for_migrations=True)
    assert (direct.host, direct.port) == ("direct", 5432)
    assert "prepared_statement_cache_size" not in direct.query
    plain = DatabaseProjectConfig(name="p", host="h")
    assert plain.sqlalchemy_url(for_migrations=True) == plain.sqlalchemy_url()


# -- validation ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": ""}, "name"),
        ({"name": "has space"}, "not a valid project name"),
        ({"name": "p", "port": "abc"}, "port"),
        ({"name": "p", "port": 70000}, "port"),
        ({"name": "p", "pool_min_size": 5, "pool_max_size": 2}, "may not exceed"),
        ({"name": "p", "pool_max_size": 0}, "pool_max_size"),
        ({"name": "p", "pool_min_size": -1}, "pool_min_size"),
        ({"name": "p", "connect_timeout": 0}, "connect_timeout"),
        ({"name": "p", "command_timeout": -1}, "command_timeout"),
        ({"name": "p", "ssl": "sometimes"}, "ssl"),
        ({"name": "p", "pooler_mode": "statement"}, "pooler_mode"),
        ({"name": "p", "additional_schemas": ["auth", " "]}, "additional_schemas"),
        ({"name": "p", "database": "x"}, "did you mean 'database_name'"),
    ],
)
def test_bad_config_raises_configuration_error(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        DatabaseProjectConfig(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_bad_config_error_never_shows_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        DatabaseProjectConfig(name="p", password="hunter2", port="nope")
    assert "hunter2" not in str(info.value)


def test_config_is_immutable() -> None:
    config = DatabaseProjectConfig(name="p")
    with pytest.raises(Exception):  # noqa: B017  (pydantic's frozen-instance error)
        config.host = "other"  # type: ignore[misc]


def test_min_size_zero_allowed() -> None:
    assert DatabaseProjectConfig(name="p", pool_min_size=0, pool_max_size=1).pool_min_size == 0


def test_additional_schemas_deduplicated() -> None:
    assert DatabaseProjectConfig(
        name="p", additional_schemas=["auth", "storage", "auth"]
    ).additional_schemas == ["auth", "storage"]


# -- registry -------------------------------------------------------------------------------------------------------------


def test_register_and_look_up(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    config = register_database(
        DatabaseProjectConfig(
            name=name,
            alias=f"{name}_a",
            password="pw",
            entity_overrides={"recipe": {"x": 1}},
            field_overrides={"recipe": {"tags": {"y": 2}}},
            additional_schemas=["auth"],
        )
    )
    assert get_database_config(name) is config
    assert get_database_config(f"{name}_a") is config
    assert resolve_database_name(f"{name}_a") == name
    assert get_database_alias(name) == f"{name}_a"
    assert name in get_all_database_project_names()
    assert f"{name}_a" not in get_all_database_project_names()
    assert get_all_database_project_names() == sorted(get_all_database_project_names())
    assert get_connection_string(name) == "postgresql://postgres:****@localhost:5432/postgres"
    assert get_schema_builder_overrides(name) == {
        "entity_overrides": {"recipe": {"x": 1}},
        "field_overrides": {"recipe": {"tags": {"y": 2}}},
    }
    assert get_database_config(f"{name}_a").additional_schemas == ["auth"]


def test_public_facade_exports() -> None:
    for public in (
        "DatabaseProjectConfig",
        "register_database",
        "register_database_from_env",
        "get_database_config",
        "get_connection_string",
        "get_all_database_project_names",
        "get_schema_builder_overrides",
    ):
        assert getattr(matrx_orm, public) is getattr(cfg, public)


def test_unknown_project_error_lists_registered(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    register_database(DatabaseProjectConfig(name=name))
    with pytest.raises(ConfigurationError) as info:
        get_database_config(name + "x")
    text = str(info.value)
    assert "not registered" in text and repr(name) in text
    assert "register_database(" in text
    assert f"Did you mean: {name!r}" in text


def test_reregister_identical_is_noop_and_different_replaces(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    seen: list[str] = []
    add_registry_listener(seen.append)
    try:
        first = register_database(DatabaseProjectConfig(name=name, host="a"))
        again = register_database(DatabaseProjectConfig(name=name, host="a"))
        assert again is first and seen == []
        replaced = register_database(DatabaseProjectConfig(name=name, host="b"))
        assert get_database_config(name) is replaced and replaced.host == "b"
        assert seen == [name]
        unregister_database(name)
        assert seen == [name, name]
        with pytest.raises(ConfigurationError):
            get_database_config(name)
    finally:
        remove_registry_listener(seen.append)


def test_alias_clashes_are_not_registered(names: list[str]) -> None:
    one, two = _unique("one"), _unique("two")
    names += [one, two]
    register_database(DatabaseProjectConfig(name=one, alias="shared_alias_x"))
    register_database(DatabaseProjectConfig(name=two, alias="shared_alias_x"))
    assert get_database_config("shared_alias_x").name == one
    three = _unique("three")
    names.append(three)
    register_database(DatabaseProjectConfig(name=three, alias=one))  # alias equal to another project's name
    assert get_database_config(one).name == one


def test_changed_alias_drops_the_old_one(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    register_database(DatabaseProjectConfig(name=name, alias=f"{name}_old"))
    register_database(DatabaseProjectConfig(name=name, alias=f"{name}_new"))
    assert get_database_config(f"{name}_new").name == name
    with pytest.raises(ConfigurationError):
        get_database_config(f"{name}_old")


def test_unregister_by_alias_and_unknown(names: list[str]) -> None:
    name = _unique()
    register_database(DatabaseProjectConfig(name=name, alias=f"{name}_a"))
    unregister_database(f"{name}_a")
    assert name not in get_all_database_project_names()
    unregister_database("never_registered_anywhere")  # no error


def test_register_rejects_other_objects() -> None:
    with pytest.raises(ConfigurationError):
        register_database("postgresql://x")  # type: ignore[arg-type]


def test_listener_failure_does_not_break_registration(names: list[str]) -> None:
    name = _unique()
    names.append(name)

    def broken(_: str) -> None:
        raise RuntimeError("listener bug")

    add_registry_listener(broken)
    try:
        register_database(DatabaseProjectConfig(name=name, host="a"))
        register_database(DatabaseProjectConfig(name=name, host="b"))
        assert get_database_config(name).host == "b"
    finally:
        remove_registry_listener(broken)


# -- from the environment ------------------------------------------------------------------------------------------------


def test_env_url(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    env = {"APP_DATABASE_URL": "postgresql://u:pw@h:6000/d", "APP_DB_HOST": "ignored"}
    config = register_database_from_env(name, "APP_", alias=f"{name}_a", additional_schemas=["auth"], env=env)
    assert (config.host, config.port_int, config.user, config.password, config.database_name) == (
        "h",
        6000,
        "u",
        "pw",
        "d",
    )
    assert config.alias == f"{name}_a" and config.additional_schemas == ["auth"]
    assert get_database_config(f"{name}_a") is config


def test_env_db_url_fallback(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    config = register_database_from_env(name, env={"DB_URL": "postgresql://x@h2/d2"})
    assert (config.host, config.database_name, config.user) == ("h2", "d2", "x")


def test_env_parts(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    env = {
        "SUPA_DB_HOST": "db.example.com",
        "SUPA_DB_PORT": "6543",
        "SUPA_DB_NAME": "postgres",
        "SUPA_DB_USER": "postgres.ref",
        "SUPA_DB_PASSWORD": "pw",
        "SUPA_DB_SSLMODE": "require",
        "SUPA_DB_POOLER_MODE": "transaction",
        "SUPA_DIRECT_URL": "postgresql://postgres.ref:pw@direct:5432/postgres",
    }
    config = register_database_from_env(name, "SUPA_", env=env)
    assert (config.host, config.port, config.database_name, config.user, config.password) == (
        "db.example.com",
        "6543",
        "postgres",
        "postgres.ref",
        "pw",
    )
    assert config.ssl == "require" and config.pooler_mode == "transaction"
    assert config.sqlalchemy_url(for_migrations=True).host == "direct"


def test_env_postgres_and_libpq_fallbacks(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    env = {
        "POSTGRES_HOST": "ph",
        "POSTGRES_DB": "pdb",
        "PGUSER": "pguser",
        "PGPASSWORD": "pgpw",
        "PGPORT": "5999",
    }
    config = register_database_from_env(name, env=env)
    assert (config.host, config.database_name, config.user, config.password, config.port) == (
        "ph",
        "pdb",
        "pguser",
        "pgpw",
        "5999",
    )


def test_env_libpq_names_need_no_prefix(names: list[str]) -> None:
    with pytest.raises(ConfigurationError):
        register_database_from_env(_unique(), "X_", env={"PGHOST": "h", "PGDATABASE": "d", "PGUSER": "u"})


def test_env_password_optional(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    config = register_database_from_env(
        name, env={"DB_HOST": "/var/run/postgresql", "DB_NAME": "d", "DB_USER": "u"}
    )
    assert config.password == "" and config.is_unix_socket


def test_env_missing_lists_what_was_looked_for() -> None:
    name = _unique()
    with pytest.raises(ConfigurationError) as info:
        register_database_from_env(name, "APP_", env={"APP_DB_HOST": "h", "APP_DB_NAME": ""})
    text = str(info.value)
    assert "APP_DATABASE_URL" in text and "APP_DB_URL" in text
    assert "APP_DB_NAME" in text and "APP_POSTGRES_DB" in text
    assert "APP_DB_USER" in text
    assert "APP_DB_HOST" not in text.split("missing")[1]  # host was found
    assert name not in get_all_database_project_names()


def test_env_invalid_value_is_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="port"):
        register_database_from_env(
            _unique(), env={"DB_HOST": "h", "DB_NAME": "d", "DB_USER": "u", "DB_PORT": "x"}
        )


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch, names: list[str]) -> None:
    name = _unique()
    names.append(name)
    monkeypatch.setenv("ENVTEST_DATABASE_URL", "postgresql://envuser@envhost/envdb")
    assert register_database_from_env(name, "ENVTEST_").host == "envhost"


# -- secrets in repr / str / model_dump ------------------------------------------------------------------------------

SECRET_CONFIGS = [
    {"url": "postgresql://u@h:5432/db?password=S3cret"},
    {"url": "postgresql://u@h:5432/db?sslmode=require&password=S3cret&application_name=app"},
    {"url": "postgresql://u:S3cret@h/db"},
    {"url": "postgres://u:p%40S3cret%3A@h:5433/db"},
    {"url": "postgresql+asyncpg://u:S3cret@h/db", "migration_url": "postgresql://u:S3cret@direct:5432/db"},
    {"url": "postgresql://u:S3 cret@h/db"},  # a space: no text masking finds it, the URL parser does
    {"password": "S3cret", "migration_url": "postgresql://m@direct/db?password=S3cret"},
]


@pytest.mark.parametrize("settings", SECRET_CONFIGS)
def test_password_never_shows(settings: dict[str, str]) -> None:
    config = DatabaseProjectConfig(name="p", **settings)
    assert "S3" in config.password or "S3" in (config.migration_url or "")
    dumped = config.model_dump()
    for text in (repr(config), str(config), repr(dumped), config.model_dump_json()):
        assert "S3" not in text and "cret" not in text, text
    assert dumped["password"] in ("****", "")
    for key in ("url", "migration_url"):
        if settings.get(key):
            assert "@" in dumped[key] and "/db" in dumped[key]


REPLICA_SECRETS = [
    "postgresql://u:S3cret@r1:5432/db",
    "postgresql://u@r2/db?sslmode=require&password=S3cret",
    {"host": "r3", "password": "S3cret"},
    {"url": "postgresql://u:S3cret@r4/db", "port": 5433},
]


def test_replica_passwords_never_show(names: list[str]) -> None:
    config = DatabaseProjectConfig(name=_unique(), password="main", replicas=REPLICA_SECRETS)
    dumped = config.model_dump()
    for text in (repr(config), str(config), repr(dumped), config.model_dump_json()):
        assert "S3cret" not in text, text
    assert dumped["replicas"] == [
        "postgresql://u:****@r1:5432/db",
        "postgresql://u@r2/db?sslmode=require&password=****",
        {"host": "r3", "password": "****"},
        {"url": "postgresql://u:****@r4/db", "port": 5433},
    ]
    assert config.model_dump(context={"reveal_secrets": True})["replicas"] == REPLICA_SECRETS
    names.append(register_database(config).name)
    for replica in cfg.replica_names(config.name):
        assert "S3cret" not in repr(get_database_config(replica)) + str(get_database_config(replica))
        assert get_database_config(replica).password == "S3cret"


def test_masked_urls_keep_everything_else() -> None:
    config = DatabaseProjectConfig(
        name="p",
        url="postgresql://u@h:5432/db?sslmode=require&password=S3cret&application_name=app",
        migration_url="postgresql+asyncpg://u:p%40ss@direct:6543/db?sslmode=require",
    )
    assert (
        config.model_dump()["url"]
        == "postgresql://u@h:5432/db?sslmode=require&password=****&application_name=app"
    )
    assert (
        config.model_dump()["migration_url"] == "postgresql+asyncpg://u:****@direct:6543/db?sslmode=require"
    )
    assert "url='postgresql://u@h:5432/db?sslmode=require&password=****&application_name=app'" in repr(config)


def test_model_dump_reveals_secrets_only_when_asked() -> None:
    config = DatabaseProjectConfig(
        name="p", url="postgresql://u:S3cret@h/db", migration_url="postgresql://u:M1gr@h2/db"
    )
    revealed = config.model_dump(context={"reveal_secrets": True})
    assert revealed["password"] == "S3cret" and revealed["url"] == "postgresql://u:S3cret@h/db"
    assert revealed["migration_url"] == "postgresql://u:M1gr@h2/db"
    assert DatabaseProjectConfig(**revealed) == config  # a dump that rebuilds the config
    assert "S3cret" in config.model_dump_json(context={"reveal_secrets": True})
    assert config.model_dump(context={"reveal_secrets": "yes"})["password"] == "****"
    # the attributes and what is built from them keep the real values
    assert config.model_copy(update={"alias": "a"}).password == "S3cret"
    assert config.sqlalchemy_url().password == "S3cret"
    assert config.sqlalchemy_url(for_migrations=True).password == "M1gr"
    assert config.asyncpg_connect_kwargs()["password"] == "S3cret"


def test_redacted_listing_masks_every_password(names: list[str]) -> None:
    name = _unique()
    names.append(name)
    register_database(
        DatabaseProjectConfig(
            name=name,
            url="postgresql://u@h:5432/db?password=S3cret",
            migration_url="postgresql://u:M1gr@h2/db",
        )
    )
    listed = [entry for entry in cfg.get_all_database_projects_redacted() if entry["name"] == name]
    assert len(listed) == 1 and "S3cret" not in repr(listed) and "M1gr" not in repr(listed)
    assert listed[0]["url"] == "postgresql://u:****@h:5432/db" and listed[0]["host"] == "h"
