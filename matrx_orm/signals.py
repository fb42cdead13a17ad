"""Lifecycle signals: ``pre_save``, ``post_save``, ``pre_create``, ``post_create``, ``pre_delete``, ``post_delete``.

Import them from ``matrx_orm.core.signals`` (matrx-orm's path) or from here::

    from matrx_orm.core.signals import post_save, pre_delete

    @post_save.connect
    async def audit(sender, instance, created: bool, **kwargs): ...

    @pre_delete.connect(sender=User)          # only for one model
    def guard(sender, instance, **kwargs): ...

    post_save.disconnect(audit)

Receivers are called in the order they were connected with ``sender`` (the model class) and keyword
arguments; they may be plain functions or coroutines (awaited). An exception raised by a ``pre_*`` receiver
propagates and the operation does not happen. A ``post_*`` receiver runs after the row was written, so its
exception is logged and does not undo the write or stop the other receivers.

Which operations send what (instance-level operations only; bulk and query-level writes send nothing):

=======================================  =========================================================
``Model.create()``, ``save()`` (new row)  pre_save(created=True), pre_create, INSERT, post_create,
                                         post_save(created=True)
``save()`` / ``instance.update()``        pre_save(created=False, update_fields), UPDATE,
                                         post_save(created=False, update_fields)
``instance.delete()``                     pre_delete, DELETE, post_delete
=======================================  =========================================================
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, overload

from .exceptions import ParameterError

__all__ = [
    "Signal",
    "post_create",
    "post_delete",
    "post_save",
    "pre_create",
    "pre_delete",
    "pre_save",
]

logger = logging.getLogger(__name__)

Receiver = Callable[..., Any]


class Signal:
    """A named hook that model operations send; receivers are connected with :meth:`connect`."""

    __slots__ = ("name", "abort_on_error", "_receivers")

    def __init__(self, name: str, *, abort_on_error: bool) -> None:
        self.name = name
        #: True for ``pre_*`` signals: a receiver's exception propagates and aborts the operation
        self.abort_on_error = abort_on_error
        self._receivers: list[tuple[Receiver, type | None]] = []

    @overload
    def connect(self, receiver: Receiver, *, sender: type | None = None) -> Receiver: ...

    @overload
    def connect(
        self, receiver: None = None, *, sender: type | None = None
    ) -> Callable[[Receiver], Receiver]: ...

    def connect(
        self, receiver: Receiver | None = None, *, sender: type | None = None
    ) -> Receiver | Callable[[Receiver], Receiver]:
        """Register ``receiver`` (for every model, or only ``sender``); returns it, so it works as a decorator.

        ``@signal.connect``, ``@signal.connect(sender=User)`` and ``signal.connect(fn)`` are all accepted.
        Connecting the same receiver for the same sender twice has no effect.
        """
        if receiver is None:

            def decorator(fn: Receiver) -> Receiver:
                return self.connect(fn, sender=sender)

            return decorator
        if not callable(receiver):
            raise ParameterError(f"{self.name}.connect() expects a callable receiver; got {receiver!r}")
        if sender is not None and not isinstance(sender, type):
            raise ParameterError(f"{self.name}.connect(sender=...) expects a model class; got {sender!r}")
        if (receiver, sender) not in self._receivers:
            self._receivers.append((receiver, sender))
        return receiver

    def disconnect(self, receiver: Receiver, *, sender: type | None = None) -> bool:
        """Unregister ``receiver`` (connected with the same ``sender``); returns whether it was connected."""
        try:
            self._receivers.remove((receiver, sender))
        except ValueError:
            return False
        return True

    def has_listeners(self, sender: type | None = None) -> bool:
        """Whether any receiver would be called for ``sender`` (for any sender when None)."""
        return any(s is None or sender is None or s is sender for _, s in self._receivers)

    @property
    def receivers(self) -> list[Receiver]:
        """The connected receivers, in call order."""
        return [receiver for receiver, _ in self._receivers]

    async def send(self, sender: type, **kwargs: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver for ``sender``; returns ``(receiver, result)`` pairs.

        On a ``pre_*`` signal the first exception propagates; on a ``post_*`` signal it is logged and
        recorded as that receiver's result.
        """
        results: list[tuple[Receiver, Any]] = []
        for receiver, only in list(self._receivers):
            if only is not None and only is not sender:
                continue
            try:
                result = receiver(sender, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                if self.abort_on_error:
                    raise
                logger.exception(
                    "%s receiver %r failed for %s", self.name, receiver, getattr(sender, "__name__", sender)
                )
                result = exc
            results.append((receiver, result))
        return results

    def __repr__(self) -> str:
        return f"<Signal {self.name} receivers={len(self._receivers)}>"


pre_save = Signal("pre_save", abort_on_error=True)
post_save = Signal("post_save", abort_on_error=False)
pre_create = Signal("pre_create", abort_on_error=True)
post_create = Signal("post_create", abort_on_error=False)
pre_delete = Signal("pre_delete", abort_on_error=True)
post_delete = Signal("post_delete", abort_on_error=False)


# -- used by Model ----------------------------------------------------------------------------------------------


def any_save_receivers() -> bool:
    """Cheap check done by every save: is any save/create receiver connected?"""
    return bool(
        pre_save._receivers or post_save._receivers or pre_create._receivers or post_create._receivers
    )


def any_delete_receivers() -> bool:
    return bool(pre_delete._receivers or post_delete._receivers)


async def around_save(
    instance: Any, created: bool, update_fields: tuple[str, ...] | None, write: Callable[[], Any]
) -> None:
    """Send the save (and create) signals around ``await write()``."""
    sender = type(instance)
    await pre_save.send(sender, instance=instance, created=created, update_fields=update_fields)
    if created:
        await pre_create.send(sender, instance=instance)
    await write()
    if created:
        await post_create.send(sender, instance=instance)
    await post_save.send(sender, instance=instance, created=created, update_fields=update_fields)


async def around_delete(instance: Any, write: Callable[[], Any]) -> Any:
    """Send the delete signals around ``await write()``; returns what the write returned."""
    sender = type(instance)
    await pre_delete.send(sender, instance=instance)
    result = await write()
    await post_delete.send(sender, instance=instance, deleted=result)
    return result
