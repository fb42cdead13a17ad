"""Models shared by the CRUD and query tests (database project "test")."""

from __future__ import annotations

import enum
from uuid import uuid4

from matrx_orm import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    EnumField,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    TextArrayField,
    TextField,
    UUIDField,
    VersionField,
)


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Author(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    name = CharField(max_length=100, unique=True, null=False)
    email = CharField(max_length=255, null=True)
    age = IntegerField(null=True)
    is_active = BooleanField(default=True)
    rating = DecimalField(max_digits=5, decimal_places=2, null=True)
    joined_at = DateTimeField(null=True)
    profile = JSONField(null=True)
    tags = TextArrayField(null=True)
    mood = EnumField(enum_class=Mood, null=True)

    _table_name = "author"
    _database = "test"


class Book(Model):
    id = IntegerField(primary_key=True)
    title = CharField(max_length=200)
    author_id = ForeignKey("Author", "id")
    pages = IntegerField(default=100)
    published = DateField(null=True)
    summary = TextField(null=True)

    _database = "test"


class User(Model):
    """Lives in a table named with a reserved word."""

    id = UUIDField(primary_key=True, default=uuid4)
    username = CharField(max_length=50)

    _table_name = "user"
    _database = "test"


class Membership(Model):
    org = CharField(max_length=50)
    member = CharField(max_length=50)
    role = CharField(max_length=20, default="member")

    _primary_keys = ["org", "member"]
    _database = "test"


class Account(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    balance = DecimalField(max_digits=12, decimal_places=2, default=0)
    version = VersionField()

    _database = "test"


class AuditEvent(Model):
    id = IntegerField(primary_key=True)
    action = CharField(max_length=50)

    _table_name = "audit_event"
    _db_schema = "audit"
    _database = "test"


ALL = [Author, Book, User, Membership, Account, AuditEvent]
