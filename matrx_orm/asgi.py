"""ASGI middleware (Starlette, FastAPI, any ASGI framework).

``PinConnectionMiddleware`` runs each HTTP (and websocket) request inside ``matrx_orm.connection()``: the
request's statements share one pooled connection per database, taken on its first statement and given back
when the response is sent. A request that runs no statement takes no connection.

```python
app = FastAPI()
app.add_middleware(PinConnectionMiddleware)               # every project the request touches
app.add_middleware(PinConnectionMiddleware, database="shop")  # one project
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .db.pinning import connection

__all__ = ["PinConnectionMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PinConnectionMiddleware:
    """Pin one connection per database for each request (see the module docstring)."""

    def __init__(self, app: ASGIApp, database: str | None = None) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        async with connection(self.database):
            await self.app(scope, receive, send)
