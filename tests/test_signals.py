"""Lifecycle signals on a real PostgreSQL: order and arguments, async and sync receivers, aborting pre_*
receivers (nothing written), failing post_* receivers (logged), sender filters, disconnect."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import pytest

from matrx_orm import (
    BaseManager,
    BooleanField,
    CharField,
    IntegerField,
    Model,
    ParameterError,
    UUIDField,
    create_all,
    transaction,
)
from matrx_orm import signals as signals_module
from matrx_orm.core.signals import (
    Signal,
    post_create,
    post_delete,
    post_save,
    pre_create,
    pre_delete,
    pre_save,
)
from matrx_orm.db import executor


class SgUser(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    name = CharField(max_length=50)
    protected = BooleanField(default=False)
    score = IntegerField(default=0)

    _table_name = "sg_user"
    _database = "test"


class SgAudit(Model):
    id = IntegerField(primary_key=True)
    action = CharField(max_length=20)
    entity_id = CharField(max_length=36)

    _table_name = "sg_audit"
    _database = "test"


ALL_SIGNALS = [pre_save, post_save, pre_create, post_create, pre_delete, post_delete]


@pytest.fixture(autouse=True)
def isolated_receivers() -> Iterator[None]:
    saved = {signal: list(signal._receivers) for signal in ALL_SIGNALS}
    for signal in ALL_SIGNALS:
        signal._receivers.clear()
    yield
    for signal, receivers in saved.items():
        signal._receivers[:] = receivers


@pytest.fixture(autouse=True)
async def tables(db: str) -> AsyncIterator[None]:
    await create_all(db, models=[SgUser, SgAudit])
    await executor.execute(db, "TRUNCATE sg_user, sg_audit", [])
    yield


def recorder(log: list[tuple[Any, ...]]) -> None:
    """Connect one receiver per signal that appends (signal, model, created, update_fields, name)."""
    for signal in ALL_SIGNALS:

        def receive(sender: type, instance: Model, _signal: Signal = signal, **kwargs: Any) -> None:
            log.append(
                (
                    _signal.name,
                    sender.__name__,
                    kwargs.get("created"),
                    kwargs.get("update_fields"),
                    instance.name,
                )  # type: ignore[attr-defined]
            )

        signal.connect(receive)


async def raw_names() -> list[str]:
    return sorted(r[0] for r in await executor.fetch("test", "SELECT name FROM sg_user", []))


# -- order and arguments -------------------------------------------------------------------------------------


async def test_create_save_update_delete_send_their_signals_in_order() -> None:
    log: list[tuple[Any, ...]] = []
    recorder(log)
    user = await SgUser.create(name="ann")
    assert log == [
        ("pre_save", "SgUser", True, None, "ann"),
        ("pre_create", "SgUser", None, None, "ann"),
        ("post_create", "SgUser", None, None, "ann"),
        ("post_save", "SgUser", True, None, "ann"),
    ]
    log.clear()
    user.name = "bea"
    await user.save()
    assert log == [("pre_save", "SgUser", False, None, "bea"), ("post_save", "SgUser", False, None, "bea")]
    log.clear()
    await user.update(score=3)
    assert log == [
        ("pre_save", "SgUser", False, ("score",), "bea"),
        ("post_save", "SgUser", False, ("score",), "bea"),
    ]
    log.clear()
    assert await user.delete() == 1
    assert log == [("pre_delete", "SgUser", None, None, "bea"), ("post_delete", "SgUser", None, None, "bea")]


async def test_post_save_sees_the_stored_row() -> None:
    seen: list[Any] = []

    @post_save.connect
    async def after(sender: type, instance: SgUser, created: bool, **kwargs: Any) -> None:
        seen.append((instance.id, instance._persisted, await SgUser.count(id=instance.id)))

    user = await SgUser.create(name="x")
    assert seen == [(user.id, True, 1)]


async def test_contract_example_audit_on_save() -> None:
    @post_save.connect
    async def audit_on_save(sender: type, instance: Model, created: bool, **kwargs: Any) -> None:
        if sender.__name__ == "SgUser":
            await SgAudit.create(
                id=await SgAudit.count() + 1,
                action="created" if created else "updated",
                entity_id=instance.id,  # type: ignore[attr-defined]
            )

    user = await SgUser.create(name="alice")
    await user.update(name="alicia")
    rows = await SgAudit.all().order_by("id").values("action", "entity_id")
    assert rows == [{"action": "created", "entity_id": user.id}, {"action": "updated", "entity_id": user.id}]


async def test_sync_and_async_receivers_both_run() -> None:
    calls: list[str] = []

    def sync_receiver(sender: type, instance: Model, **kwargs: Any) -> None:
        calls.append("sync")

    async def async_receiver(sender: type, instance: Model, **kwargs: Any) -> None:
        calls.append("async")

    post_create.connect(sync_receiver)
    post_create.connect(async_receiver)
    post_create.connect(sync_receiver)  # connecting twice has no effect
    await SgUser.create(name="a")
    assert calls == ["sync", "async"]
    assert post_create.receivers == [sync_receiver, async_receiver]


async def test_manager_operations_send_signals() -> None:
    log: list[tuple[Any, ...]] = []
    recorder(log)
    manager = BaseManager(SgUser)
    user = await manager.create_item(name="m")
    await manager.update_item(user.id, score=2)
    await manager.delete_item(user.id)
    assert [entry[0] for entry in log] == [
        "pre_save",
        "pre_create",
        "post_create",
        "post_save",
        "pre_save",
        "post_save",
        "pre_delete",
        "post_delete",
    ]


async def test_bulk_and_query_writes_send_nothing() -> None:
    log: list[tuple[Any, ...]] = []
    recorder(log)
    users = await SgUser.bulk_create([{"name": "a"}, {"name": "b"}])
    await SgUser.bulk_create([{"name": f"c{i}"} for i in range(6)])  # large enough for COPY
    await SgUser.bulk_update(users, ["name"])
    await SgUser.filter(name="a").update(score=1)
    await SgUser.update_where({"name": "b"}, score=2)
    await SgUser.upsert({"id": users[0].id, "name": "a2"}, conflict_fields=["id"])
    await SgUser.delete_where(name="b")
    await SgUser.bulk_delete(users)
    assert log == []


# -- aborting and failing receivers ------------------------------------------------------------------------------


async def test_pre_save_exception_aborts_create_and_update() -> None:
    @pre_save.connect
    def refuse_bad(sender: type, instance: SgUser, **kwargs: Any) -> None:
        if instance.name == "bad":
            raise ValueError("no bad names")

    with pytest.raises(ValueError, match="no bad names"):
        await SgUser.create(name="bad")
    assert await raw_names() == []
    user = await SgUser.create(name="good")
    user.name = "bad"
    with pytest.raises(ValueError):
        await user.save()
    with pytest.raises(ValueError):
        await user.update(name="bad")
    assert await raw_names() == ["good"]


async def test_pre_create_exception_aborts_the_insert() -> None:
    post_calls: list[str] = []

    @pre_create.connect
    async def no_inserts(sender: type, instance: Model, **kwargs: Any) -> None:
        raise PermissionError("read-only")

    @post_save.connect
    async def never(sender: type, instance: Model, **kwargs: Any) -> None:
        post_calls.append("post_save")

    with pytest.raises(PermissionError):
        await SgUser.create(name="x")
    assert await raw_names() == [] and post_calls == []


async def test_contract_example_guard_delete() -> None:
    @pre_delete.connect
    async def guard_delete(sender: type, instance: Model, **kwargs: Any) -> None:
        if getattr(instance, "protected", False):
            raise ValueError(f"Cannot delete protected {sender.__name__} {instance.id}")  # type: ignore[attr-defined]

    keep = await SgUser.create(name="keep", protected=True)
    drop = await SgUser.create(name="drop")
    with pytest.raises(ValueError, match="Cannot delete protected SgUser"):
        await keep.delete()
    assert await drop.delete() == 1
    assert await raw_names() == ["keep"]
    assert keep._persisted


async def test_pre_receiver_exception_inside_a_transaction_rolls_back_the_block() -> None:
    @pre_create.connect
    def refuse_second(sender: type, instance: SgUser, **kwargs: Any) -> None:
        if instance.name == "second":
            raise ValueError("stop")

    with pytest.raises(ValueError):
        async with transaction("test"):
            await SgUser.create(name="first")
            await SgUser.create(name="second")
    assert await raw_names() == []


async def test_post_receiver_exception_is_logged_and_the_write_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    after: list[str] = []

    @post_save.connect
    def broken(sender: type, instance: Model, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    @post_save.connect
    def still_runs(sender: type, instance: Model, **kwargs: Any) -> None:
        after.append("ran")

    with caplog.at_level(logging.ERROR, logger="matrx_orm.signals"):
        user = await SgUser.create(name="kept")
    assert user._persisted and await raw_names() == ["kept"]
    assert after == ["ran"]
    assert "post_save receiver" in caplog.text and "receiver bug" in caplog.text
    results = await post_save.send(SgUser, instance=user, created=False, update_fields=None)
    assert isinstance(results[0][1], RuntimeError) and results[1] == (still_runs, None)


# -- connect / disconnect / sender filters -------------------------------------------------------------------------


async def test_disconnect_and_sender_filters() -> None:
    calls: list[str] = []

    async def handler(sender: type, instance: Model, **kwargs: Any) -> None:
        calls.append(f"any:{sender.__name__}")

    @post_create.connect(sender=SgAudit)
    def audit_only(sender: type, instance: Model, **kwargs: Any) -> None:
        calls.append(f"audit:{sender.__name__}")

    assert post_create.connect(handler) is handler  # call form returns the receiver
    await SgUser.create(name="u")
    await SgAudit.create(id=1, action="a", entity_id="e")
    assert calls == ["any:SgUser", "audit:SgAudit", "any:SgAudit"]  # connect order
    assert post_create.has_listeners(SgUser) and post_create.has_listeners()
    calls.clear()
    assert post_create.disconnect(handler) is True
    assert post_create.disconnect(handler) is False
    assert post_create.disconnect(audit_only) is False  # connected with a sender: name it
    assert post_create.disconnect(audit_only, sender=SgAudit) is True
    await SgUser.create(name="v")
    await SgAudit.create(id=2, action="b", entity_id="e")
    assert calls == []
    assert not post_create.has_listeners()


def test_bad_connect_arguments() -> None:
    with pytest.raises(ParameterError):
        post_save.connect("not callable")  # type: ignore[call-overload]
    with pytest.raises(ParameterError):
        post_save.connect(lambda *a, **k: None, sender="SgUser")  # type: ignore[arg-type]
    assert post_save.receivers == []


def test_signals_are_importable_from_both_paths() -> None:
    assert signals_module.post_save is post_save and signals_module.pre_delete is pre_delete
    assert repr(pre_save) == "<Signal pre_save receivers=0>"
    assert pre_save.abort_on_error and not post_save.abort_on_error
