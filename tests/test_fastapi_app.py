"""The FastAPI example service (examples/fastapi_app) driven over ASGI against the real database, and the
exception handlers of ``matrx_orm.fastapi`` one status at a time."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from matrx_orm import (
    ConnectionError,
    DatabaseProjectConfig,
    IntegrityError,
    OptimisticLockError,
    ORMException,
    ParameterError,
    PoolExhaustedError,
    QueryError,
    UnknownFieldError,
    ValidationError,
    register_database,
    unregister_database,
)
from matrx_orm.db import dispose_all, executor
from matrx_orm.fastapi import install_exception_handlers, orm_lifespan

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # examples/ lives at the repository root
    sys.path.insert(0, str(ROOT))

from examples.fastapi_app.app import create_app, lifespan  # noqa: E402
from examples.fastapi_app.models import DATABASE, Author, Post  # noqa: E402


@pytest.fixture
async def client(pg_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The example app on a fresh pair of tables, through its own lifespan (tables created at startup)."""
    app = create_app(pg_url)
    async with lifespan(app):
        for model in (Post, Author):
            await executor.execute(DATABASE, f'TRUNCATE "{model._meta.table_name}" CASCADE', [])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://example.test") as http:
            yield http
    unregister_database(DATABASE)


async def _author(
    client: httpx.AsyncClient, name: str = "Ada", email: str = "ada@example.com"
) -> dict[str, Any]:
    response = await client.post("/authors", json={"name": name, "email": email})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _post(client: httpx.AsyncClient, author_id: str, **values: Any) -> dict[str, Any]:
    response = await client.post("/posts", json={"author_id": author_id, **values})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- authors ---------------------------------------------------------------------------------------------------


async def test_create_returns_201_with_the_stored_row(client: httpx.AsyncClient) -> None:
    body = await _author(client)
    assert set(body) == {"id", "name", "email", "bio", "created_at"}  # no _persisted, runtime, ...
    assert uuid.UUID(body["id"]) and body["name"] == "Ada" and body["bio"] is None
    stored = await Author.get(body["id"], use_cache=False)
    assert stored.email == "ada@example.com"
    assert body["created_at"] == stored.to_dict()["created_at"]  # the JSON of to_dict()


async def test_duplicate_email_is_409(client: httpx.AsyncClient) -> None:
    await _author(client)
    response = await client.post("/authors", json={"name": "Other", "email": "ada@example.com"})
    assert response.status_code == 409
    assert response.json()["violation"] == "unique"
    assert "INSERT" not in response.text and "ada@example.com" not in response.text


async def test_bad_uuid_in_path_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/authors/not-a-uuid")
    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["loc"] == ["id"] and "UUID" in item["msg"]


async def test_missing_row_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/authors/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "Author" in response.json()["detail"]


async def test_invalid_body_is_422_with_field_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/authors", json={"name": "x" * 101, "email": "no-at-sign", "age": 3})
    assert response.status_code == 422
    locations = {tuple(item["loc"]) for item in response.json()["detail"]}
    assert locations == {("body", "name"), ("body", "email"), ("body", "age")}
    assert await Author.count() == 0


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    author = await _author(client)
    response = await client.patch(f"/authors/{author['id']}", json={"bio": "Wrote the first program."})
    assert response.status_code == 200, response.text
    assert response.json() == {**author, "bio": "Wrote the first program."}
    cleared = await client.patch(f"/authors/{author['id']}", json={"bio": None})
    assert cleared.json()["bio"] is None
    refused = await client.patch(f"/authors/{author['id']}", json={"name": None})
    assert refused.status_code == 422  # NOT NULL stays NOT NULL in a PATCH
    assert (await Author.get(author["id"], use_cache=False)).name == "Ada"


async def test_delete_then_404(client: httpx.AsyncClient) -> None:
    author = await _author(client)
    assert (await client.delete(f"/authors/{author['id']}")).status_code == 204
    assert (await client.get(f"/authors/{author['id']}")).status_code == 404


# -- posts -----------------------------------------------------------------------------------------------------


async def test_post_with_unknown_author_is_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts", json={"author_id": str(uuid.uuid4()), "title": "Orphan"})
    assert response.status_code == 409
    assert response.json()["violation"] == "foreign_key"


async def test_post_defaults_and_types(client: httpx.AsyncClient) -> None:
    author = await _author(client)
    post = await _post(client, author["id"], title="Notes", rating="4.5", tags=["math"])
    assert post["status"] == "draft" and post["views"] == 0 and post["body"] == ""
    assert post["rating"] == "4.5" and post["tags"] == ["math"]
    stored = await Post.get(post["id"], use_cache=False)
    assert {k: v for k, v in post.items() if v is not None} == stored.to_dict()


async def test_list_filters_and_pages(client: httpx.AsyncClient) -> None:
    ada = await _author(client)
    bob = await _author(client, "Bob", "bob@example.com")
    for number in range(5):
        await _post(
            client, ada["id"], title=f"Ada {number}", tags=["math"] if number % 2 else [], views=number
        )
    await _post(client, bob["id"], title="Bob 0", status="published")

    first = (await client.get("/posts", params={"per_page": 2})).json()
    assert (first["total"], first["pages"], first["page"]) == (6, 3, 1)
    assert [p["title"] for p in first["items"]] == ["Ada 0", "Ada 1"]
    third = (await client.get("/posts", params={"per_page": 2, "page": 3})).json()
    assert [p["title"] for p in third["items"]] == ["Ada 4", "Bob 0"]

    by_author = (await client.get("/posts", params={"author_id": bob["id"]})).json()
    assert [p["title"] for p in by_author["items"]] == ["Bob 0"]
    published = (await client.get("/posts", params={"status": "published"})).json()
    assert published["total"] == 1
    tagged = (await client.get("/posts", params={"tag": "math", "min_views": 2})).json()
    assert [p["title"] for p in tagged["items"]] == ["Ada 3"]
    searched = (await client.get("/posts", params={"q": "ADA 2"})).json()
    assert [p["title"] for p in searched["items"]] == ["Ada 2"]


async def test_list_with_bad_filters_or_pages_is_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/posts", params={"author_id": "nope"})).status_code == 422
    assert (await client.get("/posts", params={"status": "archived"})).status_code == 422
    past_the_end = await client.get("/posts", params={"page": 2})
    assert past_the_end.status_code == 422
    assert "past the last page" in past_the_end.json()["detail"][0]["msg"]


async def test_patch_post_partially(client: httpx.AsyncClient) -> None:
    author = await _author(client)
    post = await _post(client, author["id"], title="Draft", tags=["a"])
    response = await client.patch(f"/posts/{post['id']}", json={"status": "published", "views": 7})
    assert response.status_code == 200, response.text
    assert response.json() == {**post, "status": "published", "views": 7}
    bad = await client.patch(f"/posts/{post['id']}", json={"rating": "123.45"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "rating"]


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["server_version"] and body["error"] is None


async def test_health_is_503_when_the_database_is_down(pg_url: str) -> None:
    register_database(DatabaseProjectConfig(name=DATABASE, url="postgresql://nobody@127.0.0.1:9/none"))
    app = create_app()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://example.test") as http:
            response = await http.get("/health")
            assert response.status_code == 503 and response.json()["ok"] is False
            listing = await http.get("/posts")
            assert listing.status_code == 503
            assert listing.json() == {"detail": "Database unavailable"}
            assert listing.headers["retry-after"] == "1"
    finally:
        await dispose_all()
        unregister_database(DATABASE)


async def test_openapi_documents_the_model_schemas(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert schemas["AuthorInput"]["required"] == ["name", "email"]
    assert schemas["PostPatch"].get("required") is None
    assert schemas["PostInput"]["properties"]["author_id"]["format"] == "uuid"
    assert "_persisted" not in str(spec)


# -- the handlers one status at a time ----------------------------------------------------------------------------


def _raising_app(error: Exception) -> FastAPI:
    app = FastAPI(lifespan=orm_lifespan)
    install_exception_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (
            PoolExhaustedError("no free connection in pool of 5 to db.internal:5432"),
            503,
            "Database unavailable",
        ),
        (ConnectionError("cannot connect to postgresql://u:***@db.internal/x"), 503, "Database unavailable"),
        (QueryError("SELECT secret FROM t", query="SELECT secret FROM t"), 500, "Internal Server Error"),
        (ORMException("boom", params=["password"]), 500, "Internal Server Error"),
        (OptimisticLockError("stale"), 409, "The row was changed by someone else; reload it and try again"),
    ],
)
async def test_status_and_body_never_leak_internals(error: Exception, status: int, detail: str) -> None:
    transport = httpx.ASGITransport(app=_raising_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/boom")
    assert response.status_code == status
    assert response.json() == {"detail": detail}


async def _status_and_items(error: Exception) -> tuple[int, list[dict[str, Any]]]:
    transport = httpx.ASGITransport(app=_raising_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/boom")
    items: list[dict[str, Any]] = response.json()["detail"]
    return response.status_code, items


async def test_422_items_name_the_fields() -> None:
    errors = {"title": ["too long"], "__all__": ["end before start"]}
    assert await _status_and_items(ValidationError(errors=errors)) == (
        422,
        [
            {"loc": ["title"], "msg": "too long", "type": "validation_error"},
            {"loc": [], "msg": "end before start", "type": "validation_error"},
        ],
    )
    status, [item] = await _status_and_items(UnknownFieldError(name="titel", choices=["title"], model="Post"))
    assert (status, item["loc"], item["type"]) == (422, ["titel"], "unknown_field")
    assert "'title'" in item["msg"]  # the closest match is suggested
    status, [item] = await _status_and_items(ParameterError("per_page must be a positive int"))
    assert (status, item) == (
        422,
        {"loc": [], "msg": "per_page must be a positive int", "type": "parameter_error"},
    )


async def test_integrity_conflict_body_names_the_constraint() -> None:
    error = IntegrityError(
        'duplicate key value violates unique constraint "t_email_key" (Key (email)=(a@b.c) already exists.)',
        details={"violation": "unique", "constraint_name": "t_email_key", "sqlstate": "23505"},
        query="INSERT INTO t ...",
    )
    transport = httpx.ASGITransport(app=_raising_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/boom")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A row with the same unique values already exists",
        "violation": "unique",
        "constraint": "t_email_key",
    }
