"""Statements that set, read and restore session settings for one query (pgvector's index tuning)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .cache import Compiled, bind, compiled

__all__ = ["current_settings", "set_local"]


def set_local(count: int) -> Compiled:
    """``SELECT set_config($0, $1, true), ...`` for ``count`` settings (names and values bound): each lasts
    until the end of the transaction, or of the savepoint it was set in when that is rolled back."""

    def build() -> Any:
        return sa.select(
            *(
                sa.func.set_config(bind(2 * i, sa.Text()), bind(2 * i + 1, sa.Text()), sa.true())
                for i in range(count)
            )
        )

    return compiled(("set_config", count), build)


def current_settings(count: int) -> Compiled:
    """``SELECT current_setting($0, true), ...`` for ``count`` setting names: their values, NULL for a
    setting the session does not know yet (an extension's, before its library loads)."""

    def build() -> Any:
        return sa.select(*(sa.func.current_setting(bind(i, sa.Text()), sa.true()) for i in range(count)))

    return compiled(("current_setting", count), build)
