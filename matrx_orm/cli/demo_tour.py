"""The second half of ``matrx-orm demo``: relations, aggregates, a rolled-back transaction, vector search.

Runs on the rows the first half (:mod:`.demo`) created (four authors, five books). The vector part needs the
pgvector extension on the server (the embedded server has it); elsewhere it says so and moves on. Like the
first half it uses only the public API of :mod:`matrx_orm`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from matrx_orm import (
    Avg,
    Count,
    IntegerField,
    Model,
    Sum,
    TextField,
    VectorField,
    capture_queries,
    create_all,
    transaction,
)

__all__ = ["DEMO_PROJECT", "DemoNote", "tour_beyond_crud"]

Out = Callable[[str], Any]

#: Database project name the demo registers (defined here, imported by :mod:`.demo`).
DEMO_PROJECT = "demo"


class DemoNote(Model):
    """A tiny embedding table for the vector search step (created only where pgvector exists)."""

    id = IntegerField(primary_key=True)
    text = TextField()
    embedding = VectorField(dimensions=3)

    _table_name = "matrx_demo_note"
    _database = DEMO_PROJECT


async def tour_beyond_crud(out: Out, author_model: Any, book_model: Any) -> None:
    """Print one line per step: select_related, prefetch_related, aggregates, transaction, nearest()."""
    out("")
    out("== Relations, aggregates, transactions")
    with capture_queries() as queries:
        books = await book_model.filter(genre="sci-fi").select_related("author").order_by("title")
    pairs = ", ".join(f"{b.title!r} by {b.get_related('author').name}" for b in books)
    out(f"DemoBook.filter(genre='sci-fi').select_related('author') -> {len(queries)} query: {pairs}")

    with capture_queries() as queries:
        authors = await author_model.all().prefetch_related("books").order_by("name")
    counts = ", ".join(f"{a.name} {len(a.get_related('books'))}" for a in authors)
    out(f"DemoAuthor.all().prefetch_related('books') -> {len(queries)} queries for all authors: {counts}")

    totals = await book_model.all().aggregate(books=Count("id"), pages=Sum("pages"), avg_price=Avg("price"))
    out(
        f"DemoBook.all().aggregate(Count, Sum, Avg) -> {totals['books']} books, {totals['pages']} pages, "
        f"average price {totals['avg_price']:.2f}"
    )
    per_genre = await (
        book_model.all()
        .group_by("genre")
        .annotate(n=Count("id"))
        .order_by("-n", "genre")
        .values("genre", "n")
    )
    out(f"DemoBook.all().group_by('genre').annotate(n=Count('id')).values('genre', 'n') -> {per_genre}")

    try:
        async with transaction(DEMO_PROJECT):
            await book_model.filter(genre="sci-fi").update(price=Decimal("0.01"))
            raise RuntimeError("changed my mind")
    except RuntimeError:
        pass
    prices = await book_model.filter(genre="sci-fi").order_by("price").values_list("price", flat=True)
    out(
        "async with transaction(): update, then an exception -> rolled back, sci-fi prices still "
        f"{', '.join(str(p) for p in prices)}"
    )

    await _vector_search(out)


async def _vector_search(out: Out) -> None:
    available = await DemoNote.raw_sql("SELECT 1 FROM pg_available_extensions WHERE name = $1", "vector")
    if not available:
        out("Vector search skipped: the pgvector extension is not installed on this server")
        return
    await create_all(DEMO_PROJECT, models=[DemoNote])  # also CREATE EXTENSION IF NOT EXISTS vector
    await DemoNote.bulk_create(
        [
            {"id": 1, "text": "sea and islands", "embedding": [0.9, 0.1, 0.0]},
            {"id": 2, "text": "ocean planet", "embedding": [0.8, 0.3, 0.1]},
            {"id": 3, "text": "desert city", "embedding": [0.0, 0.2, 0.9]},
            {"id": 4, "text": "mountain wizard", "embedding": [0.1, 0.9, 0.2]},
        ]
    )
    hits = await DemoNote.nearest("embedding", [1.0, 0.2, 0.0], metric="cosine").limit(2)
    shown = ", ".join(f"{n.text!r} ({n._vector_distance:.3f})" for n in hits)
    out(f"DemoNote.nearest('embedding', [1.0, 0.2, 0.0]).limit(2) -> {shown}")
