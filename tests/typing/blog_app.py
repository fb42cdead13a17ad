"""A user's module, checked by tests/test_typing.py with ``mypy --strict`` and ``pyright --strict``.

Every ``reveal_type(...)  # expect: T`` must show ``T`` under both checkers (``# expect[mypy]: ...`` /
``# expect[pyright]: ...`` when they spell it differently); the module must have no error otherwise.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypedDict, overload, reveal_type

from matrx_orm import (
    BaseManager,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    EmailField,
    EnumField,
    FloatField,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    Paginator,
    QueryBuilder,
    TextArrayField,
    TextField,
    UUIDField,
    ValidationError,
    VectorField,
    VersionField,
    build_input_schema,
    build_output_schema,
    validate_input,
)


class Status(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Seo(TypedDict):
    slug: str
    keywords: list[str]


class Author(Model):
    id = UUIDField(primary_key=True, default=uuid.uuid4)
    name = CharField(max_length=100, null=False)
    email = EmailField(unique=True, null=False)
    bio = TextField()
    born = DateField()
    verified = BooleanField(null=False, default=False)

    _table_name = "typing_author"
    _database = "typing_blog"


class Post(Model):
    id = IntegerField(primary_key=True)
    author_id: ForeignKey[str] = ForeignKey(Author, null=False, related_name="posts")
    editor_id: ForeignKey[str | None] = ForeignKey(Author)
    title = CharField(max_length=200, null=False)
    body = TextField()
    status = EnumField(Status, null=False, default=Status.DRAFT)
    rating = DecimalField(max_digits=3, decimal_places=1)
    score = FloatField(nullable=False, default=0.0)
    views = IntegerField(null=False, default=0)
    tags = TextArrayField()
    embedding = VectorField(dimensions=3)
    seo = JSONField[Seo]()
    extra = JSONField()
    published_at = DateTimeField()
    version = VersionField()

    _table_name = "typing_post"
    _database = "typing_blog"

    if TYPE_CHECKING:  # fetch_fk typed for this model's keys (by field name or relation name)

        @overload
        async def fetch_fk(
            self, field_name: Literal["author_id", "author", "editor_id", "editor"]
        ) -> Author | None: ...
        @overload
        async def fetch_fk(self, field_name: str) -> Model | None: ...
        async def fetch_fk(self, field_name: str) -> Model | None: ...


class PostManager(BaseManager[Post]):
    model = Post


async def fields(post: Post, author: Author) -> None:
    reveal_type(post.id)  # expect: int
    reveal_type(post.author_id)  # expect: str
    reveal_type(post.editor_id)  # expect: str | None
    reveal_type(post.title)  # expect: str
    reveal_type(post.body)  # expect: str | None
    reveal_type(post.status)  # expect: Status
    reveal_type(post.rating)  # expect: Decimal | None
    reveal_type(post.score)  # expect: float
    reveal_type(post.views)  # expect: int
    reveal_type(post.tags)  # expect: list[str] | None
    reveal_type(post.embedding)  # expect: list[float] | None
    reveal_type(
        post.seo
    )  # expect[mypy]: TypedDict(Seo, {'slug': str, 'keywords': list[str]})  expect[pyright]: Seo
    reveal_type(post.extra)  # expect: Any
    reveal_type(post.published_at)  # expect: datetime | None
    reveal_type(post.version)  # expect: int
    reveal_type(author.id)  # expect: str
    reveal_type(author.email)  # expect: str
    reveal_type(author.bio)  # expect: str | None
    reveal_type(author.born)  # expect: date | None
    reveal_type(author.verified)  # expect: bool
    reveal_type(Post.title)  # expect: CharField[str]
    reveal_type(Post.body)  # expect: TextField[str | None]
    reveal_type(Post.author_id)  # expect: ForeignKey[str]

    post.title = "Renamed"
    post.body = None
    post.published_at = dt.datetime.now(dt.UTC)
    if post.rating is not None:
        rounded: Decimal = post.rating.quantize(Decimal("1"))
        print(rounded)
    words = len(post.body or "")
    print(words + post.views)


async def queries() -> None:
    recent = Post.filter(status=Status.PUBLISHED).exclude(views=0).order_by("-published_at")
    reveal_type(recent)  # expect: QueryBuilder[Post]
    reveal_type(recent.select_related("author").distinct().only("title"))  # expect: QueryBuilder[Post]
    reveal_type(await recent.all())  # expect: list[Post]
    reveal_type(await recent)  # expect: list[Post]
    reveal_type(await recent[:10])  # expect: list[Post]
    reveal_type(await recent.first())  # expect: Post | None
    reveal_type(await recent.last())  # expect: Post | None
    reveal_type(await recent.get(id=1))  # expect: Post
    reveal_type(await recent.count())  # expect: int
    reveal_type(await recent.values("title"))  # expect: list[dict[str, Any]]
    reveal_type(recent.iterator(chunk_size=100))  # expect: AsyncGenerator[Post, None]
    async for post in recent.iterator():
        reveal_type(post)  # expect: Post
    reveal_type(await Post.get(1))  # expect: Post
    reveal_type(await Post.get_or_none(title="x"))  # expect: Post | None
    reveal_type(await Post.create(author_id="a", title="t"))  # expect: Post
    reveal_type(await Author.filter(name="Ada").first())  # expect: Author | None
    page = await Paginator[Post](recent, 20).page(1)
    reveal_type(page.items)  # expect: list[Post]


async def stream(query: QueryBuilder[Post]) -> AsyncIterator[str]:
    async for post in query.iterator(chunk_size=500):
        yield post.title


async def relations(post: Post, author: Author) -> None:
    reveal_type(await post.fetch_fk("author"))  # expect: Author | None
    reveal_type(await post.fetch_fk("author_id"))  # expect: Author | None
    reveal_type(await author.fetch_fk("anything"))  # expect: Model | None
    reveal_type(await author.fetch_ifk("posts"))  # expect: list[Model]


async def managers(manager: PostManager) -> None:
    reveal_type(await manager.load_by_id(1))  # expect: Post
    reveal_type(await manager.load_by_id_or_none(1))  # expect: Post | None
    reveal_type(await manager.load_items(status="draft"))  # expect: list[Post]
    reveal_type(await manager.create_item(author_id="a", title="t"))  # expect: Post
    reveal_type(await manager.get_active_items())  # expect: list[Post]


async def schemas(payload: dict[str, Any]) -> Post:
    reveal_type(build_input_schema(Post, partial=True))  # expect: type[BaseModel]
    out = build_output_schema(Post)
    try:
        data = validate_input(Post, payload)
    except ValidationError as exc:
        reveal_type(exc.errors)  # expect: dict[str, list[str]]
        raise
    post = await Post.create(**data)
    print(out.model_validate(post).model_dump(mode="json"))
    return post
