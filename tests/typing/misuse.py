"""Mistakes both checkers must report (tests/test_typing.py): every line marked ``# error`` has an error under
``mypy --strict`` and ``pyright --strict``, and no other line has one."""

from __future__ import annotations

from blog_app import Author, Post, PostManager

from matrx_orm import ForeignKey, IntegerField, Model


async def nullable_values_need_a_check(post: Post) -> None:
    length: int = len(post.body)  # error
    stars: int = post.views
    when = post.published_at.year  # error
    print(length, stars, when)


def not_null_fields_take_no_none(post: Post) -> None:
    post.title = None  # error
    post.views = "many"  # error
    post.body = None


async def results_have_the_model_type(manager: PostManager) -> None:
    authors: list[Author] = await Post.filter(title="x").all()  # error
    first: Post = await Post.filter(title="x").first()  # error
    loaded: Author = await manager.load_by_id(1)  # error
    print(authors, first, loaded)


class Comment(Model):
    id = IntegerField(primary_key=True)
    post_id: ForeignKey[int] = ForeignKey(Post)  # error
    parent_id: ForeignKey[int | None] = ForeignKey("Comment")

    _database = "typing_blog"
