"""``matrx-orm demo``: a guided tour of the ORM against a throwaway database.

Without a URL the demo starts the embedded PostgreSQL server (``pip install 'matrx-orm[embedded]'``) and
works in a fresh database ``matrx_demo`` on it. With a URL it works in that database: it creates its
tables (``matrx_demo_author``, ``matrx_demo_book`` and, where pgvector is installed, ``matrx_demo_note``) and
drops them at the end unless ``keep=True``. The second half of the tour lives in :mod:`.demo_tour`.

The models live in their own database project, ``"demo"``, under class names no application is likely to
use (``DemoAuthor``, ``DemoBook``), so importing this module never disturbs your own models. The tour uses
only the public API of :mod:`matrx_orm`, as an application would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from uuid import uuid4

import asyncpg

from matrx_orm import (
    BooleanField,
    CharField,
    DatabaseProjectConfig,
    DateTimeField,
    DecimalField,
    DoesNotExist,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    Q,
    UUIDField,
    ValidationError,
    create_all,
    dispose_all,
    drop_all,
    register_database,
    unregister_database,
)
from matrx_orm import ConnectionError as DatabaseConnectionError
from matrx_orm.embedded import default_data_dir, embedded_url
from matrx_orm.exceptions import mask_url_passwords

from .demo_tour import DEMO_PROJECT, tour_beyond_crud

__all__ = ["DEMO_DATABASE", "DEMO_PROJECT", "DemoAuthor", "DemoBook", "run_demo"]

#: Database the demo (re)creates on the embedded server.
DEMO_DATABASE = "matrx_demo"

Out = Callable[[str], Any]


class DemoAuthor(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    name = CharField(max_length=100, unique=True, null=False)
    country = CharField(max_length=2)
    born = IntegerField()
    profile = JSONField(default=dict)

    _table_name = "matrx_demo_author"
    _database = DEMO_PROJECT


class DemoBook(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    isbn = CharField(max_length=13, unique=True, null=False)
    title = CharField(max_length=200, null=False)
    author_id = ForeignKey(DemoAuthor, "id", related_name="books")
    genre = CharField(max_length=30)
    pages = IntegerField()
    price = DecimalField(max_digits=6, decimal_places=2)
    in_print = BooleanField(default=True)
    tags = JSONField(default=list)
    added_at = DateTimeField(default=lambda: datetime.now(UTC))

    _table_name = "matrx_demo_book"
    _database = DEMO_PROJECT


# -- helpers --------------------------------------------------------------------------------------------------


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(database, safe="")))


def _titles(books: list[DemoBook]) -> str:
    return ", ".join(repr(book.title) for book in books) or "(none)"


async def _probe(url: str) -> str:
    """Connect once to ``url``; return the server version, or raise ConnectionError in plain words."""
    try:
        connection = await asyncpg.connect(url, timeout=15)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseConnectionError(f"cannot connect to {mask_url_passwords(url)}: {reason}") from exc
    try:
        version: str = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return version.split()[0]


async def _fresh_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``server_url``; return its URL."""
    connection = await asyncpg.connect(server_url, timeout=15)
    ident = '"' + name.replace('"', '""') + '"'
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
        await connection.execute(f"CREATE DATABASE {ident}")
    finally:
        await connection.close()
    return _with_database(server_url, name)


async def _start_embedded(data_dir: str | Path | None, out: Out) -> str:
    where = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    out(f"Starting the embedded PostgreSQL server (data directory {where}) ...")
    server_url = await asyncio.to_thread(embedded_url, data_dir)
    url = await _fresh_database(server_url, DEMO_DATABASE)
    out(f"  created a fresh database {DEMO_DATABASE!r}")
    return url


# -- the tour -------------------------------------------------------------------------------------------------


async def run_demo(
    database_url: str | None = None,
    *,
    out: Out = print,
    keep: bool = False,
    data_dir: str | Path | None = None,
) -> None:
    """Walk through the ORM, printing one line per step with its result.

    ``database_url``: a libpq URL (``postgresql://user:pass@host/db``) to use instead of the embedded server.
    ``out``: where the lines go. ``keep``: leave the tables and rows behind. ``data_dir``: the embedded
    server's data directory (default :func:`matrx_orm.embedded.default_data_dir`).
    """
    if database_url is None:
        url = await _start_embedded(data_dir, out)
    else:
        url = database_url
        out(f"Using {mask_url_passwords(url)}")
    version = await _probe(url)
    out(f"  connected: PostgreSQL {version}")

    register_database(DatabaseProjectConfig(name=DEMO_PROJECT, url=url))
    try:
        await drop_all(DEMO_PROJECT)  # leftovers of an earlier run with --keep
        await create_all(DEMO_PROJECT, models=[DemoAuthor, DemoBook])
        out(f"Created tables {DemoAuthor._table_name} and {DemoBook._table_name} (create_all)")
        await _tour(out)
        if keep and database_url is None:
            out(
                f"Kept the demo tables in database {DEMO_DATABASE!r} of the embedded server "
                "(the next run starts afresh)"
            )
        elif keep:
            out(f"Kept the demo tables; look at them with: psql '{mask_url_passwords(url)}'")
        else:
            await drop_all(DEMO_PROJECT)
            out("Dropped the demo tables (drop_all); pass --keep to look at them afterwards")
    finally:
        await dispose_all()
        unregister_database(DEMO_PROJECT)
    out("Done.")


async def _tour(out: Out) -> None:
    out("")
    out("== Creating rows")
    le_guin = await DemoAuthor.create(
        name="Ursula K. Le Guin", country="US", born=1929, profile={"awards": ["Hugo", "Nebula"]}
    )
    out(f"DemoAuthor.create(...) -> {le_guin!r}")
    shown = {k: v for k, v in le_guin.to_dict().items() if k != "id"}
    out(f"  .to_dict() without the id -> {shown}")

    others = await DemoAuthor.bulk_create(
        [
            {"name": "Stanisław Lem", "country": "PL", "born": 1921},
            {"name": "Octavia E. Butler", "country": "US", "born": 1947},
            {"name": "Italo Calvino", "country": "IT", "born": 1923},
        ]
    )
    out(f"DemoAuthor.bulk_create([3 dicts]) -> {len(others)} authors: {', '.join(a.name for a in others)}")
    lem, butler, calvino = others

    books = await DemoBook.bulk_create(
        [
            DemoBook(
                isbn="9780441478125",
                title="The Left Hand of Darkness",
                author_id=le_guin.id,
                genre="sci-fi",
                pages=304,
                price=Decimal("9.99"),
                tags=["classic", "gender"],
            ),
            DemoBook(
                isbn="9780547773742",
                title="A Wizard of Earthsea",
                author_id=le_guin.id,
                genre="fantasy",
                pages=183,
                price=Decimal("8.50"),
                tags=["magic"],
            ),
            DemoBook(
                isbn="9780156027601",
                title="Solaris",
                author_id=lem.id,
                genre="sci-fi",
                pages=204,
                price=Decimal("12.00"),
                tags=["classic", "ocean"],
            ),
            DemoBook(
                isbn="9780446675505",
                title="Parable of the Sower",
                author_id=butler.id,
                genre="sci-fi",
                pages=345,
                price=Decimal("15.99"),
            ),
            DemoBook(
                isbn="9780156453806",
                title="Invisible Cities",
                author_id=calvino.id,
                genre="literary",
                pages=165,
                price=Decimal("13.95"),
                in_print=False,
            ),
        ]
    )
    out(f"DemoBook.bulk_create([5 instances]) -> {len(books)} books in one INSERT")

    out("")
    out("== Reading")
    solaris = await DemoBook.get(title="Solaris")
    out(f"DemoBook.get(title='Solaris') -> {solaris.title!r}, {solaris.pages} pages, price {solaris.price}")
    author = await DemoAuthor.get(solaris.author_id)
    out(f"DemoAuthor.get(<primary key>) -> {author.name!r} (born {author.born})")
    missing = await DemoAuthor.get_or_none(name="Nobody")
    out(f"DemoAuthor.get_or_none(name='Nobody') -> {missing!r}")

    long_books = await DemoBook.filter(pages__gt=300).order_by("title")
    out(f"DemoBook.filter(pages__gt=300) -> {_titles(long_books)}")
    le_authors = await DemoAuthor.filter(name__icontains="le").order_by("name").values_list("name", flat=True)
    out(f"DemoAuthor.filter(name__icontains='le').values_list('name', flat=True) -> {le_authors}")
    picked = await DemoBook.filter(genre__in=["fantasy", "literary"]).order_by("title")
    out(f"DemoBook.filter(genre__in=['fantasy', 'literary']) -> {_titles(picked)}")

    short_or_cheap = await DemoBook.filter(Q(pages__lt=170) | Q(price__lt=Decimal("9"))).order_by("title")
    out(f"DemoBook.filter(Q(pages__lt=170) | Q(price__lt=9)) -> {_titles(short_or_cheap)}")
    not_scifi = await DemoBook.filter(~Q(genre="sci-fi")).order_by("title")
    out(f"DemoBook.filter(~Q(genre='sci-fi')) -> {_titles(not_scifi)}")
    excluded = await DemoBook.filter(genre="sci-fi").exclude(author_id=le_guin.id).order_by("title")
    out(f"DemoBook.filter(genre='sci-fi').exclude(author_id=<Le Guin>) -> {_titles(excluded)}")

    priciest = await DemoBook.all().order_by("-price").limit(2)
    out(
        f"DemoBook.all().order_by('-price').limit(2) -> {', '.join(f'{b.title!r} ({b.price})' for b in priciest)}"
    )
    rows = await DemoBook.filter(genre="sci-fi").order_by("pages").values("title", "pages")
    out(f"DemoBook.filter(genre='sci-fi').order_by('pages').values('title', 'pages') -> {rows}")
    pairs = await DemoAuthor.all().order_by("born").values_list("name", "born")
    out(f"DemoAuthor.all().order_by('born').values_list('name', 'born') -> {pairs}")

    total = await DemoBook.count()
    scifi = await DemoBook.filter(genre="sci-fi").count()
    out(f"DemoBook.count() -> {total}; DemoBook.filter(genre='sci-fi').count() -> {scifi}")
    out(f"DemoBook.exists(genre='poetry') -> {await DemoBook.exists(genre='poetry')}")

    await tour_beyond_crud(out, DemoAuthor, DemoBook)

    out("")
    out("== Updating")
    solaris.price = Decimal("10.50")
    solaris.tags = [*solaris.tags, "translated"]
    await solaris.save()
    reloaded = await DemoBook.get(id=solaris.id, use_cache=False)
    out(f"book.price = 10.50; book.save() -> stored price {reloaded.price}, tags {reloaded.tags}")
    await solaris.update(pages=224)
    out(
        f"book.update(pages=224) -> {(await DemoBook.get(id=solaris.id, use_cache=False)).pages} pages stored"
    )

    count = await DemoBook.filter(genre="sci-fi", pages__gt=300).update(in_print=False)
    out(f"DemoBook.filter(genre='sci-fi', pages__gt=300).update(in_print=False) -> {count} rows updated")
    result = await DemoBook.update_where({"in_print": False}, price=Decimal("4.99"))
    out(
        f"DemoBook.update_where({{'in_print': False}}, price=4.99) -> rows_affected={result.rows_affected}: "
        f"{_titles(sorted(result.updated_rows, key=lambda b: b.title))}"
    )

    upserted = await DemoAuthor.upsert(
        data={"name": "Stanisław Lem", "country": "PL", "born": 1921, "profile": {"languages": ["pl"]}},
        conflict_fields=["name"],
        update_fields=["profile"],
    )
    out(
        f"DemoAuthor.upsert(existing name, update_fields=['profile']) -> same id: {upserted.id == lem.id}, profile={upserted.profile}"
    )
    newcomer = await DemoAuthor.upsert(
        data={"name": "Ted Chiang", "country": "US", "born": 1967}, conflict_fields=["name"]
    )
    out(f"DemoAuthor.upsert(new name) -> inserted {newcomer.name!r}; authors now {await DemoAuthor.count()}")

    out("")
    out("== Errors you can catch")
    try:
        await DemoBook.create(isbn="9780000000000", title="Pages", author_id=lem.id, pages="many")
    except ValidationError as exc:
        out(f"DemoBook.create(pages='many') -> ValidationError (no query sent): {_first_line(exc)}")
    else:
        out("DemoBook.create(pages='many') -> unexpectedly accepted")
    try:
        await DemoAuthor.get(name="Jorge Luis Borges")
    except DoesNotExist as exc:
        out(f"DemoAuthor.get(name='Jorge Luis Borges') -> DoesNotExist: {_first_line(exc)}")

    out("")
    out("== Deleting")
    earthsea = await DemoBook.get(isbn="9780547773742")
    out(f"book.delete() -> {await earthsea.delete()} row deleted ({earthsea.title!r})")
    deleted = await DemoBook.delete_where(price__lt=Decimal("5"))
    out(f"DemoBook.delete_where(price__lt=5) -> {deleted} rows deleted")
    gone = await DemoAuthor.filter(name="Ted Chiang").delete()
    out(f"DemoAuthor.filter(name='Ted Chiang').delete() -> {gone} row deleted")
    remaining = await DemoBook.all().order_by("title").values_list("title", flat=True)
    out(f"Books left: {remaining}")
    out("")


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message.strip() else str(exc)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
