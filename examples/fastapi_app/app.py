"""The example service: CRUD for authors and posts, filtered and paginated lists, a health check.

Run it (any PostgreSQL; the tables are created at startup):

    MATRX_EXAMPLE_DATABASE_URL=postgresql://user:secret@localhost/blog uvicorn examples.fastapi_app.app:app
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from types import GenericAlias
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from matrx_orm import (
    DatabaseProjectConfig,
    Paginator,
    build_output_schema,
    create_all,
    health_check,
    register_database,
)
from matrx_orm.fastapi import ModelBody, install_exception_handlers, orm_lifespan

from .models import DATABASE, Author, Post, Status

AuthorOut = build_output_schema(Author)
PostOut = build_output_schema(Post)
CreateAuthor = ModelBody(Author)
PatchAuthor = ModelBody(Author, partial=True)
CreatePost = ModelBody(Post)
PatchPost = ModelBody(Post, partial=True)


def page_schema(item: type[BaseModel]) -> type[BaseModel]:
    """``{"items": [item, ...], "page", "per_page", "total", "pages"}``."""
    items: Any = GenericAlias(list, (item,))
    return create_model(
        f"{item.__name__}Page",
        items=(items, ...),
        page=(int, ...),
        per_page=(int, ...),
        total=(int, ...),
        pages=(int, ...),
    )


PostPage = page_schema(PostOut)
router = APIRouter()


# -- health -------------------------------------------------------------------------------------------------------


@router.get("/health")
async def health() -> JSONResponse:
    """200 with the server's facts when the database answers, else 503 with the reason."""
    status = await health_check(DATABASE)
    return JSONResponse(dataclasses.asdict(status), status_code=200 if status.ok else 503)


# -- authors ------------------------------------------------------------------------------------------------------


@router.post("/authors", status_code=201, response_model=AuthorOut)
async def create_author(data: Annotated[dict[str, Any], Depends(CreateAuthor)]) -> Author:
    return await Author.create(**data)


@router.get("/authors/{author_id}", response_model=AuthorOut)
async def get_author(author_id: str) -> Author:
    return await Author.get(author_id, use_cache=False)


@router.patch("/authors/{author_id}", response_model=AuthorOut)
async def update_author(author_id: str, data: Annotated[dict[str, Any], Depends(PatchAuthor)]) -> Author:
    author = await Author.get(author_id, use_cache=False)
    return await author.update(**data)


@router.delete("/authors/{author_id}", status_code=204)
async def delete_author(author_id: str) -> Response:
    author = await Author.get(author_id, use_cache=False)
    await author.delete()
    return Response(status_code=204)


# -- posts --------------------------------------------------------------------------------------------------------


@router.post("/posts", status_code=201, response_model=PostOut)
async def create_post(data: Annotated[dict[str, Any], Depends(CreatePost)]) -> Post:
    return await Post.create(**data)


@router.get("/posts", response_model=PostPage)
async def list_posts(
    author_id: str | None = None,
    status: Status | None = None,
    tag: str | None = None,
    q: Annotated[str | None, Query(description="text the title contains (any case)")] = None,
    min_views: Annotated[int | None, Query(ge=0)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Posts matching every filter given, by title, ``per_page`` at a time."""
    filters: dict[str, Any] = {
        "author_id": author_id,
        "status": status,
        "tags__contains": None if tag is None else [tag],
        "title__icontains": q,
        "views__gte": min_views,
    }
    query = Post.filter(**{key: value for key, value in filters.items() if value is not None})
    found = await Paginator[Post](query.order_by("title", "id"), per_page).page(page)
    return {
        "items": found.items,
        "page": found.number,
        "per_page": found.per_page,
        "total": found.total_count,
        "pages": found.total_pages,
    }


@router.get("/posts/{post_id}", response_model=PostOut)
async def get_post(post_id: str) -> Post:
    return await Post.get(post_id, use_cache=False)


@router.patch("/posts/{post_id}", response_model=PostOut)
async def update_post(post_id: str, data: Annotated[dict[str, Any], Depends(PatchPost)]) -> Post:
    post = await Post.get(post_id, use_cache=False)
    return await post.update(**data)


@router.delete("/posts/{post_id}", status_code=204)
async def delete_post(post_id: str) -> Response:
    post = await Post.get(post_id, use_cache=False)
    await post.delete()
    return Response(status_code=204)


# -- the application ----------------------------------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
    """Create the tables (an example: real services run migrations), then close the pools on shutdown."""
    await create_all(DATABASE, models=[Author, Post])
    async with orm_lifespan(app):
        yield


def create_app(database_url: str | None = None) -> FastAPI:
    """The service; ``database_url`` (else ``$MATRX_EXAMPLE_DATABASE_URL``) registers the database, unless
    the caller registered project ``fastapi_example`` itself."""
    url = database_url or os.environ.get("MATRX_EXAMPLE_DATABASE_URL")
    if url:
        register_database(DatabaseProjectConfig(name=DATABASE, url=url))
    app = FastAPI(title="matrx-orm example: authors and posts", lifespan=lifespan)
    install_exception_handlers(app)
    app.include_router(router)
    return app


app = create_app()
