"""Checked by mypy in tests/test_typing.py: field reads and queries carry the model's types."""

from __future__ import annotations

from datetime import datetime
from typing import assert_type

from matrx_orm import CharField, DateTimeField, IntegerField, Model, QueryBuilder, UUIDField


class TypedUser(Model):
    id = UUIDField(primary_key=True)
    username = CharField(max_length=50)
    age = IntegerField(null=True)
    joined = DateTimeField(null=True)
    _database = "typing"


async def reads() -> None:
    user = await TypedUser.get(id="x")
    assert_type(user, TypedUser)
    assert_type(user.username, str)
    assert_type(user.age, int)
    assert_type(user.joined, datetime)
    assert_type(user.id, str)
    user.username = "renamed"
    users = await TypedUser.filter(age__gt=3).order_by("username").all()
    assert_type(users, list[TypedUser])
    assert_type(TypedUser.filter(age=1), QueryBuilder[TypedUser])
    maybe = await TypedUser.filter(age=1).first()
    assert_type(maybe, TypedUser | None)
    awaited = await TypedUser.filter(age=1)
    assert_type(awaited, list[TypedUser])
    created = await TypedUser.create(username="a")
    assert_type(created, TypedUser)
