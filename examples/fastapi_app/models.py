"""The example service's models: authors and their posts, in database project ``fastapi_example``."""

from __future__ import annotations

import enum
from uuid import uuid4

from matrx_orm import (
    CharField,
    DateTimeField,
    DecimalField,
    EmailField,
    EnumField,
    ForeignKey,
    IntegerField,
    Model,
    TextArrayField,
    TextField,
    UUIDField,
)

DATABASE = "fastapi_example"


class Status(enum.StrEnum):
    """Where a post is in its life."""

    DRAFT = "draft"
    PUBLISHED = "published"


class Author(Model):
    """Someone who writes posts; ``email`` is unique."""

    id = UUIDField(primary_key=True, default=uuid4)
    name = CharField(max_length=100, null=False)
    email = EmailField(unique=True, null=False)
    bio = TextField()
    created_at = DateTimeField(auto_now_add=True, null=False)

    _table_name = "example_author"
    _database = DATABASE


class Post(Model):
    """A post by an author, with tags and an optional rating."""

    id = UUIDField(primary_key=True, default=uuid4)
    author_id: ForeignKey[str] = ForeignKey(Author, null=False, related_name="posts")
    title = CharField(max_length=200, null=False)
    body = TextField(null=False, default="")
    status = EnumField(Status, null=False, default=Status.DRAFT)
    tags = TextArrayField(null=False, default=list)
    views = IntegerField(null=False, default=0)
    rating = DecimalField(max_digits=3, decimal_places=1)
    published_at = DateTimeField()

    _table_name = "example_post"
    _database = DATABASE
