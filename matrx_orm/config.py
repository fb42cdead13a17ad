"""Database project configuration and the process-wide registry of projects.

A *database project* is one PostgreSQL database the application talks to, registered under a name (models
point at it with ``_database = "name"``) and optionally an alias::

    register_database(DatabaseProjectConfig(name="my_project", host="localhost", port="5432",
                                            database_name="my_db", user="postgres", password="secret",
                                            alias="main"))
    register_database(DatabaseProjectConfig(name="other", url="postgresql://user:pw@db.example.com/app"))

The engine layer (:mod:`matrx_orm.engine`) creates connection pools from these configs lazily.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import shlex
import ssl as _ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import quote

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine

from .exceptions import ConfigurationError, mask_secrets, mask_url_passwords

__all__ = [
    "DatabaseProjectConfig",
    "add_registry_listener",
    "get_all_database_project_names",
    "get_all_database_projects_redacted",
    "get_connection_string",
    "get_database_alias",
    "get_database_config",
    "get_manager_config",
    "get_schema_builder_overrides",
    "register_database",
    "register_database_from_env",
    "replica_configs",
    "replica_names",
    "remove_registry_listener",
    "resolve_database_name",
    "unregister_database",
]

logger = logging.getLogger(__name__)

PASSWORD_MASK = "****"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_MASKED_FIELDS = {"password", "url", "migration_url", "replicas"}


def _first(value: Any) -> Any:
    """URL query values may be tuples when a key repeats; the first one wins (as in libpq)."""
    if isinstance(value, tuple):
        return value[0] if value else None
    return value


def _parse_options(options: str) -> dict[str, str]:
    """``-c key=value -c other=x`` (libpq ``options``) -> server settings."""
    settings: dict[str, str] = {}
    try:
        words = shlex.split(options)
    except ValueError:
        return settings
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-c" and index + 1 < len(words):
            word = words[index + 1]
            index += 1
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            index += 1
            continue
        key, sep, value = word.partition("=")
        if sep:
            settings[key.replace("-", "_")] = value
        index += 1
    return settings


def _fields_from_url(url: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The config fields a ``postgresql://`` URL sets (they win over the separate fields)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a valid database URL: {mask_url_passwords(url)!r}") from exc
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(
            f"expected a postgresql:// (or postgresql+asyncpg://) URL, got scheme {parsed.drivername!r}"
        )
    query = {key: _first(value) for key, value in parsed.query.items()}
    fields: dict[str, Any] = {}
    host = parsed.host or query.get("host") or ""
    fields["host"] = host
    port = parsed.port or query.get("port")
    fields["port"] = int(port) if port is not None and str(port).isdigit() else (port or 5432)
    user = parsed.username or query.get("user")
    if user:
        fields["user"] = user
    password = parsed.password if parsed.password is not None else query.get("password")
    fields["password"] = str(password) if password is not None else ""
    database = parsed.database or query.get("dbname")
    if database:
        fields["database_name"] = database
    elif user:
        fields["database_name"] = user  # libpq's default database is the user's name
    sslmode = query.get("sslmode") or query.get("ssl")
    if sslmode:
        fields["ssl"] = str(sslmode).lower()
    if query.get("connect_timeout"):
        fields["connect_timeout"] = float(query["connect_timeout"])
    settings: dict[str, str] = dict(data.get("server_settings") or {})
    if query.get("options"):
        settings.update(_parse_options(str(query["options"])))
    if query.get("application_name"):
        settings["application_name"] = str(query["application_name"])
    if settings:
        fields["server_settings"] = settings
    if str(query.get("pgbouncer", "")).lower() in ("true", "1", "yes") and "pooler_mode" not in data:
        fields["pooler_mode"] = "transaction"
    return fields


def _fields_from_engine(engine: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """The config fields an ``AsyncEngine``'s URL sets (as a ``url`` would; it may not be given as well)."""
    if not isinstance(engine, AsyncEngine):
        raise ValueError(f"engine: expected a sqlalchemy AsyncEngine, got {type(engine).__name__}")
    if engine.dialect.driver != "asyncpg":
        raise ValueError(
            f"engine: expected an engine on the asyncpg driver (postgresql+asyncpg://), got {engine.url.drivername!r}"
        )
    if data.get("url"):
        raise ValueError("give either url or engine: the engine's URL is the project's")
    try:
        return _fields_from_url(engine.url.render_as_string(hide_password=False), data)
    except ValueError as exc:
        raise ValueError(f"engine: {exc}") from None


#: ``model_dump(context={REVEAL_SECRETS: True})`` dumps the real password, url, migration_url and replicas
REVEAL_SECRETS = "reveal_secrets"


def _mask_url_string(url: str) -> str:
    """``url`` with its password (``user:pw@`` and the ``password=`` query parameter) masked, as written
    otherwise; a password the text masking misses (one with a space, say) makes it SQLAlchemy's rendering."""
    masked = mask_url_passwords(url, PASSWORD_MASK)
    try:
        parsed = make_url(masked)
    except (ArgumentError, ValueError):
        return masked
    hidden = (None, "", PASSWORD_MASK)
    if parsed.password in hidden and _first(parsed.query.get("password")) in hidden:
        return masked
    query = {key: value for key, value in parsed.query.items() if key != "password"}
    return parsed.set(query=query).render_as_string(hide_password=True)


def _masked_setting(name: str, value: Any) -> Any:
    """``value`` of setting ``name`` safe to show: the password masked, URLs without their password (in
    ``replicas`` too: each URL, and each dict's ``password`` and ``url``)."""
    if not value or name not in _MASKED_FIELDS:
        return value
    if name == "replicas" and isinstance(value, list):
        return [_masked_replica(replica) for replica in value]
    if not isinstance(value, str):
        return value
    return PASSWORD_MASK if name == "password" else _mask_url_string(value)


def _masked_replica(replica: Any) -> Any:
    """A ``replicas`` entry safe to show: a URL as :func:`_masked_setting` masks ``url``, a dict with its
    ``password`` and ``url`` masked like the project's own."""
    if isinstance(replica, str):
        return _masked_setting("url", replica)
    if isinstance(replica, Mapping):
        return {key: _masked_setting(str(key), value) for key, value in replica.items()}
    return replica


class DatabaseProjectConfig(BaseModel):
    """Connection settings of one registered database project.

    Give either the separate fields (``host``, ``port``, ``database_name``, ``user``, ``password``) or a full
    ``url`` (``postgresql://user:pw@host:5432/db``, ``postgresql+asyncpg://...``, or for a unix socket
    ``postgresql://user@/db?host=/var/run/postgresql``); the URL wins and fills those fields. A ``host``
    starting with ``/`` is a unix-socket directory. ``engine`` (a SQLAlchemy ``AsyncEngine`` on asyncpg)
    instead makes the project run on that engine's pool; its URL fills the connection fields.

    Secrets never show: ``repr()``, ``str()``, ``model_dump()`` and ``model_dump_json()`` give ``password``
    as ``****`` and ``url`` / ``migration_url`` with their password masked (``user:****@`` and
    ``password=****`` in the query; host, port, database and the other parameters kept); ``replicas`` the
    same way (URLs masked, a dict's ``password`` and ``url`` masked). Code that needs the
    real values reads the attributes, or dumps with ``model_dump(context={"reveal_secrets": True})`` (what
    rebuilding a config from a dump needs); ``model_copy(update=...)`` copies the real values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    host: str = "localhost"
    port: str | int = 5432
    database_name: str = "postgres"
    user: str = "postgres"
    password: str = ""
    protocol: str = "postgresql"
    alias: str = ""
    additional_schemas: list[str] = Field(default_factory=list)
    entity_overrides: dict[str, Any] = Field(default_factory=dict)
    field_overrides: dict[str, Any] = Field(default_factory=dict)
    manager_config_overrides: dict[str, Any] = Field(default_factory=dict)
    url: str | None = None
    pool_min_size: int = 1
    pool_max_size: int = 10
    command_timeout: float | None = 60
    connect_timeout: float = 10
    ssl: bool | str | _ssl.SSLContext | None = None
    pooler_mode: Literal["session", "transaction"] = "session"
    statement_cache_size: int = 1024
    migration_url: str | None = None
    server_settings: dict[str, str] = Field(default_factory=dict)
    #: seconds a statement waits for a free pooled connection before PoolExhaustedError (None: no limit)
    pool_timeout: float | None = 30
    #: print this project's statements on stderr (the ``matrx_orm.sql`` logger at INFO)
    echo: bool = False
    #: put bound parameter values in SQL log records and query events
    log_parameters: bool = False
    #: statements slower than this many milliseconds are logged at WARNING on ``matrx_orm.sql.slow``
    slow_query_ms: float | None = None
    #: keep bound parameter values out of exception messages and ``details``
    hide_parameters: bool = False
    #: read replicas: URLs, or dicts with the connection fields (host, port, database_name, user, password)
    replicas: list[str | dict[str, Any]] = Field(default_factory=list)
    #: seconds during which a task's reads stay on the primary after its write to the project (or its
    #: transaction's COMMIT) completed: counted from the task's first read after the write
    replica_lag_window: float = 2.0
    #: seconds a replica that failed to connect is left out before it is tried again
    replica_backoff: float = 30.0
    #: transaction pooler that keeps prepared statements (PgBouncer >= 1.21 with max_prepared_statements):
    #: the statement cache stays on in pooler mode
    pooler_prepared_statements: bool = False
    #: a SQLAlchemy ``AsyncEngine`` (asyncpg driver) whose pool the project's statements use; the connection
    #: fields come from its URL (see docs/sqlalchemy.md). Left out of dumps.
    engine: AsyncEngine | None = Field(default=None, exclude=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise _configuration_error(exc, data.get("name")) from None

    # -- validation ------------------------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _apply_url(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("engine") is not None:
            data = {**data, **_fields_from_engine(data["engine"], data)}
        if isinstance(data, Mapping) and data.get("url"):
            try:
                fields = _fields_from_url(str(data["url"]), data)
            except ValueError as exc:
                raise ValueError(f"url: {exc}") from None
            data = {**data, **fields}
        return data

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the project name may not be empty")
        if not _NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a valid project name (letters, digits, '_', '-', '.')")
        return value

    @field_validator("port")
    @classmethod
    def _check_port(cls, value: str | int) -> str | int:
        text = str(value).strip()
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ValueError(f"port must be a number between 1 and 65535, got {value!r}")
        return value

    @field_validator("migration_url")
    @classmethod
    def _check_migration_url(cls, value: str | None) -> str | None:
        if value:
            _fields_from_url(value, {})
        return value or None

    @field_validator("ssl")
    @classmethod
    def _check_ssl(cls, value: Any) -> Any:
        if isinstance(value, str):
            mode = value.strip().lower()
            if mode in ("true", "on", "1"):
                return True
            if mode in ("false", "off", "0", ""):
                return False
            if mode not in SSL_MODES:
                raise ValueError(
                    f"ssl must be a bool, an SSLContext or one of {', '.join(SSL_MODES)}; got {value!r}"
                )
            return mode
        return value

    @field_validator("additional_schemas")
    @classmethod
    def _check_schemas(cls, value: list[str]) -> list[str]:
        cleaned = [schema.strip() for schema in value]
        if any(not schema for schema in cleaned):
            raise ValueError("additional_schemas may not contain empty names")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _check_sizes(self) -> DatabaseProjectConfig:
        if self.pool_min_size < 0:
            raise ValueError(f"pool_min_size must be >= 0, got {self.pool_min_size}")
        if self.pool_max_size < 1:
            raise ValueError(f"pool_max_size must be >= 1, got {self.pool_max_size}")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError(
                f"pool_min_size ({self.pool_min_size}) may not exceed pool_max_size ({self.pool_max_size})"
            )
        if self.connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be > 0, got {self.connect_timeout}")
        if self.command_timeout is not None and self.command_timeout <= 0:
            raise ValueError(f"command_timeout must be > 0 or None, got {self.command_timeout}")
        if self.pooler_mode == "transaction":
            _check_pooler_settings(self.server_settings)
        if self.replica_lag_window < 0 or self.replica_backoff < 0:
            raise ValueError("replica_lag_window and replica_backoff must be >= 0")
        for replica in self.replicas:
            _replica_fields(replica)
        if self.pool_timeout is not None and self.pool_timeout <= 0:
            raise ValueError(f"pool_timeout must be > 0 or None, got {self.pool_timeout}")
        if self.slow_query_ms is not None and self.slow_query_ms < 0:
            raise ValueError(f"slow_query_ms must be >= 0 or None, got {self.slow_query_ms}")
        if self.statement_cache_size < 0:
            raise ValueError(f"statement_cache_size must be >= 0, got {self.statement_cache_size}")
        return self

    # -- derived values ----------------------------------------------------------------------------------------
    @property
    def port_int(self) -> int:
        """The port as an int."""
        return int(str(self.port).strip())

    @property
    def is_unix_socket(self) -> bool:
        """True when ``host`` is a unix-socket directory."""
        return self.host.startswith("/")

    @property
    def effective_statement_cache_size(self) -> int:
        """0 in transaction-pooler mode (PgBouncer / Supabase 6543 cannot keep prepared statements), unless
        the pooler keeps them (``pooler_prepared_statements``)."""
        if self.pooler_mode == "transaction" and not self.pooler_prepared_statements:
            return 0
        return self.statement_cache_size

    @property
    def ssl_argument(self) -> bool | str | _ssl.SSLContext | None:
        """What asyncpg's ``ssl=`` gets: None unless SSL is configured (``False`` means "not forced")."""
        return None if self.ssl is None or self.ssl is False else self.ssl

    def asyncpg_connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncpg.connect`` / ``asyncpg.create_pool`` (without pool sizes)."""
        return {
            "host": self.host or None,
            "port": self.port_int,
            "user": self.user,
            "password": self.password or None,
            "database": self.database_name,
            "ssl": self.ssl_argument,
            "timeout": self.connect_timeout,
            "command_timeout": self.command_timeout,
            "statement_cache_size": self.effective_statement_cache_size,
            "server_settings": dict(self.server_settings) or None,
        }

    def sqlalchemy_url(self, *, for_migrations: bool = False) -> URL:
        """A ``postgresql+asyncpg`` SQLAlchemy URL; ``for_migrations`` prefers ``migration_url`` when set."""
        if for_migrations and self.migration_url:
            direct = DatabaseProjectConfig(name=self.name, url=self.migration_url)
            return direct.sqlalchemy_url()
        query: dict[str, str] = {}
        host: str | None = self.host or None
        if host is not None and self.is_unix_socket:
            query["host"] = host
            host = None
        if isinstance(self.ssl_argument, str):
            query["ssl"] = self.ssl_argument
        elif self.ssl_argument is True:
            query["ssl"] = "require"
        if self.pooler_mode == "transaction":
            query["prepared_statement_cache_size"] = "0"
        return URL.create(
            "postgresql+asyncpg",
            username=self.user or None,
            password=self.password or None,
            host=host,
            port=self.port_int,
            database=self.database_name or None,
            query=query,
        )

    def masked_url(self) -> str:
        """``postgresql://user:****@host:port/db`` — safe to log; never contains the password."""
        userinfo = quote(self.user, safe="")
        if self.password:
            userinfo += f":{PASSWORD_MASK}"
        if self.host and not self.is_unix_socket:
            host = f"[{self.host}]" if ":" in self.host else self.host
            location = f"{host}:{self.port_int}"
            query = ""
        else:
            location = ""
            query = f"?host={quote(self.host, safe='/')}&port={self.port_int}" if self.host else ""
        scheme = self.protocol if self.protocol.startswith("postgres") else "postgresql"
        return f"{scheme}://{userinfo}@{location}/{quote(self.database_name, safe='')}{query}"

    # -- never leak the password -------------------------------------------------------------------------------
    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, _masked_setting(str(key), value)

    @field_serializer("password", "url", "migration_url", "replicas")
    def _dump_secret(self, value: Any, info: FieldSerializationInfo) -> Any:
        """Masked in dumps unless ``context={"reveal_secrets": True}``."""
        context = info.context
        if isinstance(context, Mapping) and context.get(REVEAL_SECRETS) is True:
            return value
        return _masked_setting(info.field_name, value)


#: startup parameters PgBouncer passes on in transaction mode (others make it refuse the connection)
POOLER_STARTUP_PARAMETERS = frozenset(
    {"application_name", "client_encoding", "datestyle", "timezone", "standard_conforming_strings"}
)


def _check_pooler_settings(settings: Mapping[str, str]) -> None:
    refused = sorted(key for key in settings if key.lower() not in POOLER_STARTUP_PARAMETERS)
    if refused:
        raise ValueError(
            f"server_settings {refused} cannot be sent through a transaction pooler (pooler_mode='transaction'): "
            "PgBouncer refuses unknown startup parameters. Set them on the role or database instead "
            "(ALTER ROLE ... SET ...), or list them in PgBouncer's ignore_startup_parameters; only "
            f"{', '.join(sorted(POOLER_STARTUP_PARAMETERS))} pass through"
        )


_REPLICA_KEYS = {"host", "port", "database_name", "user", "password", "ssl", "url"}


def _replica_fields(replica: str | Mapping[str, Any]) -> dict[str, Any]:
    """The connection fields a ``replicas`` entry sets (a URL or a dict of connection fields)."""
    if isinstance(replica, str):
        fields = _fields_from_url(replica, {})
        fields.pop("server_settings", None)
        fields.pop("pooler_mode", None)
        return fields
    unknown = set(replica) - _REPLICA_KEYS
    if unknown:
        raise ValueError(f"a replica takes only {sorted(_REPLICA_KEYS)}; got {sorted(unknown)}")
    if replica.get("url"):
        return {**_replica_fields(str(replica["url"])), **{k: v for k, v in replica.items() if k != "url"}}
    return dict(replica)


#: replica projects are named ``<project>~replica<N>`` (``~`` never appears in a project name)
REPLICA_MARK = "~replica"


def replica_configs(config: DatabaseProjectConfig) -> list[DatabaseProjectConfig]:
    """One config per replica of ``config``: the primary's settings with the replica's connection fields."""
    derived = []
    for number, replica in enumerate(config.replicas, 1):
        fields = _replica_fields(replica)
        derived.append(
            config.model_copy(
                update={
                    **fields,
                    "name": f"{config.name}{REPLICA_MARK}{number}",
                    "alias": "",
                    "url": None,
                    "replicas": [],
                    "migration_url": None,
                    "engine": None,  # a replica has a pool of its own
                }
            )
        )
    return derived


def _configuration_error(exc: pydantic.ValidationError, name: Any) -> ConfigurationError:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            close = difflib.get_close_matches(location, DatabaseProjectConfig.model_fields, n=1, cutoff=0.5)
            message = "unknown setting" + (f"; did you mean {close[0]!r}?" if close else "")
        problems.append(f"  {location + ': ' if location else ''}{mask_url_passwords(message)}")
    label = f" {name!r}" if isinstance(name, str) and name else ""
    return ConfigurationError(f"Invalid DatabaseProjectConfig{label}:\n" + "\n".join(problems))


# -- the registry -----------------------------------------------------------------------------------------------

_lock = threading.RLock()
_projects: dict[str, DatabaseProjectConfig] = {}
_aliases: dict[str, str] = {}
#: ``<project>~replica<N>`` -> that replica's config (derived when the project is registered)
_replicas: dict[str, DatabaseProjectConfig] = {}
_listeners: list[Callable[[str], None]] = []


def add_registry_listener(callback: Callable[[str], None]) -> None:
    """Call ``callback(name)`` whenever a project's config is replaced or unregistered (the engine layer
    uses it to drop that project's pools)."""
    with _lock:
        if callback not in _listeners:
            _listeners.append(callback)


def remove_registry_listener(callback: Callable[[str], None]) -> None:
    """Undo :func:`add_registry_listener`."""
    with _lock:
        if callback in _listeners:
            _listeners.remove(callback)


def _notify(name: str) -> None:
    for callback in list(_listeners):
        try:
            callback(name)
        except Exception:  # a listener must never break registration
            logger.exception("matrx-orm registry listener %r failed for %r", callback, name)


def _drop_aliases_of(name: str) -> None:
    for alias in [a for a, target in _aliases.items() if target == name]:
        del _aliases[alias]


def register_database(config: DatabaseProjectConfig) -> DatabaseProjectConfig:
    """Register (or replace) a database project; returns the registered config.

    Registering the same name again with an identical config does nothing. A different config replaces the
    old one, and pools/engines created from the old one are closed. ``config.alias`` (if set and not
    already used by another project) resolves to the same project.
    """
    if isinstance(config, Mapping):
        config = DatabaseProjectConfig(**config)
    if not isinstance(config, DatabaseProjectConfig):
        raise ConfigurationError(
            f"register_database() expects a DatabaseProjectConfig, got {type(config).__name__}",
        )
    name = config.name
    with _lock:
        existing = _projects.get(name)
        if existing is not None and existing == config:
            return existing
        _projects[name] = config
        _drop_aliases_of(name)
        dropped_replicas = _set_replicas(name, replica_configs(config))
        # a project name shadows another project's alias of the same spelling
        if _aliases.get(name) not in (None, name):
            logger.warning("database alias %r now resolves to the project of that name", name)
            del _aliases[name]
        alias = config.alias
        if alias and alias != name:
            owner = _aliases.get(alias)
            if alias in _projects:
                logger.warning("alias %r of %r clashes with a project name; not registered", alias, name)
            elif owner is not None and owner != name:
                logger.warning("alias %r of %r is already used by %r; not registered", alias, name, owner)
            else:
                _aliases[alias] = name
        replaced = existing is not None
    if replaced:
        _notify(name)
        for replica in dropped_replicas:
            _notify(replica)
    return config


def _set_replicas(name: str, configs: list[DatabaseProjectConfig]) -> list[str]:
    """Replace project ``name``'s replica configs; returns the names of those dropped or replaced."""
    prefix = f"{name}{REPLICA_MARK}"
    old = [key for key in _replicas if key.startswith(prefix)]
    for key in old:
        del _replicas[key]
    for replica in configs:
        _replicas[replica.name] = replica
    return old


def replica_names(name: str) -> list[str]:
    """The replica project names of project ``name`` (name or alias), in order; empty without replicas."""
    config = get_database_config(name)
    return [f"{config.name}{REPLICA_MARK}{n}" for n in range(1, len(config.replicas) + 1)]


def unregister_database(name: str) -> None:
    """Remove a project (by name or alias) and close its pools; unknown names are ignored."""
    with _lock:
        canonical = name if name in _projects else _aliases.get(name)
        if canonical is None:
            return
        del _projects[canonical]
        _drop_aliases_of(canonical)
        dropped_replicas = _set_replicas(canonical, [])
    _notify(canonical)
    for replica in dropped_replicas:
        _notify(replica)


def resolve_database_name(name: str) -> str:
    """The project name for a project name or alias; raises ConfigurationError when unknown."""
    return get_database_config(name).name


def get_database_config(name: str) -> DatabaseProjectConfig:
    """The config registered under ``name`` (a project name or alias)."""
    config = _projects.get(name) or _replicas.get(name)
    if config is not None:
        return config
    with _lock:
        target = _aliases.get(name)
        if target is not None and target in _projects:
            return _projects[target]
        registered = sorted(_projects)
        known = registered + sorted(_aliases)
    hint = ""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
    if close:
        hint = f" Did you mean: {', '.join(repr(c) for c in close)}?"
    listing = ", ".join(repr(n) for n in registered) if registered else "none"
    raise ConfigurationError(
        f"Database project {name!r} is not registered.{hint} Registered projects: {listing}. Register it first "
        f"with register_database(DatabaseProjectConfig(name={name!r}, ...)) or "
        f"register_database_from_env({name!r}).",
    )


def get_connection_string(name: str) -> str:
    """The project's connection URL with the password masked (for logs and messages)."""
    return get_database_config(name).masked_url()


def get_all_database_project_names() -> list[str]:
    """Registered project names (not aliases), sorted."""
    with _lock:
        return sorted(_projects)


def get_database_alias(name: str) -> str:
    """The alias of a registered project ("" when it has none)."""
    return get_database_config(name).alias


def get_manager_config(name: str) -> dict[str, Any]:
    """The per-table manager settings registered for the project (``manager_config_overrides``)."""
    return dict(get_database_config(name).manager_config_overrides)


def get_all_database_projects_redacted() -> list[dict[str, Any]]:
    """Every registered project's settings, passwords masked (safe to log or show)."""
    with _lock:
        configs = list(_projects.values())
    return [
        mask_secrets(config.model_dump(exclude={"ssl"})) | {"url": config.masked_url()} for config in configs
    ]


def get_schema_builder_overrides(name: str) -> dict[str, dict[str, Any]]:
    """``{"entity_overrides": {...}, "field_overrides": {...}}`` registered for the project."""
    config = get_database_config(name)
    return {
        "entity_overrides": dict(config.entity_overrides),
        "field_overrides": dict(config.field_overrides),
    }


# -- from the environment ------------------------------------------------------------------------------------------


def _env_names(prefix: str, *suffixes: str, libpq: str | None = None) -> list[str]:
    names = [f"{prefix}{suffix}" for suffix in suffixes]
    if libpq and not prefix:
        names.append(libpq)
    return names


def _lookup(env: Mapping[str, str], names: list[str]) -> str | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def register_database_from_env(
    name: str,
    env_prefix: str = "",
    *,
    alias: str = "",
    additional_schemas: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> DatabaseProjectConfig:
    """Build a config from environment variables and register it.

    With ``P`` = ``env_prefix`` (e.g. ``"SUPABASE_"``), the first variable set (and non-empty) wins:

    - URL (preferred, used alone): ``P``DATABASE_URL, ``P``DB_URL, ``P``POSTGRES_URL
    - otherwise separate parts:

      ============  ==========================================================  ==========
      host          ``P``DB_HOST, ``P``POSTGRES_HOST, PGHOST                       required
      port          ``P``DB_PORT, ``P``POSTGRES_PORT, PGPORT                       5432
      database      ``P``DB_NAME, ``P``POSTGRES_DB, ``P``POSTGRES_DATABASE, PGDATABASE  required
      user          ``P``DB_USER, ``P``POSTGRES_USER, PGUSER                       required
      password      ``P``DB_PASSWORD, ``P``POSTGRES_PASSWORD, PGPASSWORD           "" (trust/peer)
      ============  ==========================================================  ==========

    - always optional: ssl from ``P``DB_SSLMODE / ``P``DB_SSL / PGSSLMODE, pooler mode from
      ``P``DB_POOLER_MODE (``session`` / ``transaction``), a direct migration URL from ``P``DB_MIGRATION_URL /
      ``P``DIRECT_URL.

    The libpq names (``PG*``) are only read without a prefix. ``env`` defaults to ``os.environ``; extra
    keyword arguments are passed to :class:`DatabaseProjectConfig`. A missing required variable raises
    ConfigurationError naming the variables looked for.
    """
    source: Mapping[str, str] = os.environ if env is None else env
    prefix = env_prefix
    data: dict[str, Any] = {
        "name": name,
        "alias": alias,
        "additional_schemas": list(additional_schemas or []),
    }

    url_names = _env_names(prefix, "DATABASE_URL", "DB_URL", "POSTGRES_URL")
    url = _lookup(source, url_names)
    if url is not None:
        data["url"] = url
    else:
        wanted = {
            "host": (_env_names(prefix, "DB_HOST", "POSTGRES_HOST", libpq="PGHOST"), True),
            "port": (_env_names(prefix, "DB_PORT", "POSTGRES_PORT", libpq="PGPORT"), False),
            "database_name": (
                _env_names(prefix, "DB_NAME", "POSTGRES_DB", "POSTGRES_DATABASE", libpq="PGDATABASE"),
                True,
            ),
            "user": (_env_names(prefix, "DB_USER", "POSTGRES_USER", libpq="PGUSER"), True),
            "password": (_env_names(prefix, "DB_PASSWORD", "POSTGRES_PASSWORD", libpq="PGPASSWORD"), False),
        }
        missing: list[str] = []
        for field, (names, required) in wanted.items():
            value = _lookup(source, names)
            if value is not None:
                data[field] = value
            elif required:
                missing.append(f"{field}: one of {', '.join(names)}")
        if missing:
            raise ConfigurationError(
                f"Cannot register database {name!r} from the environment: no {', '.join(url_names)}, and "
                "these settings are missing:\n  " + "\n  ".join(missing),
            )
    sslmode = _lookup(source, _env_names(prefix, "DB_SSLMODE", "DB_SSL", libpq="PGSSLMODE"))
    if sslmode is not None and "ssl" not in data:
        data["ssl"] = sslmode
    pooler = _lookup(source, _env_names(prefix, "DB_POOLER_MODE"))
    if pooler is not None:
        data["pooler_mode"] = pooler.lower()
    migration_url = _lookup(source, _env_names(prefix, "DB_MIGRATION_URL", "DIRECT_URL"))
    if migration_url is not None:
        data["migration_url"] = migration_url
    data.update(overrides)
    return register_database(DatabaseProjectConfig(**data))
