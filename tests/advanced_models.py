"""Models and data for the expression / advanced-query tests (tables prefixed ``adv_``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from matrx_orm import (
    BooleanField,
    CharField,
    DateTimeField,
    DecimalField,
    IntegerField,
    JSONField,
    Model,
)
from matrx_orm.db import executor


class AdvCustomer(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=50, null=False)
    nickname = CharField(max_length=50, null=True)
    is_active = BooleanField(default=True)
    tenant = IntegerField(null=False)
    score = IntegerField(null=True)

    _table_name = "adv_customer"
    _database = "test"


class AdvOrder(Model):
    id = IntegerField(primary_key=True)
    customer_id = IntegerField(null=False)
    region = CharField(max_length=20, null=False)
    status = CharField(max_length=20, null=False)
    amount = DecimalField(max_digits=10, decimal_places=2, null=False)
    qty = IntegerField(null=False)
    created_at = DateTimeField(null=False)
    shipped_at = DateTimeField(null=True)
    data = JSONField(null=True)

    _table_name = "adv_order"
    _database = "test"


class AdvCategory(Model):
    id = IntegerField(primary_key=True)
    parent_id = IntegerField(null=True)
    name = CharField(max_length=50, null=False)

    _table_name = "adv_category"
    _database = "test"


class AdvNote(Model):
    """Fields whose column names differ from their attribute names."""

    id = IntegerField(primary_key=True, db_column="note_id")
    body = CharField(max_length=50, db_column="body_text", null=False)
    n = IntegerField(db_column="num", null=False)

    _table_name = "adv_note"
    _database = "test"


NOTE_ROWS = [{"id": i, "body": f"note{i % 3}", "n": (i * 5) % 7} for i in range(1, 11)]

ALL = [AdvCustomer, AdvOrder, AdvCategory, AdvNote]

BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
REGIONS = ["north", "south", "east"]
STATUSES = ["paid", "pending", "refunded"]


def customer_rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(1, 9):
        rows.append(
            {
                "id": i,
                "name": f"Customer{i}",
                "nickname": f"nick{i}" if i % 3 == 0 else None,
                "is_active": i % 4 != 0,
                "tenant": i % 3,
                "score": (i * 37) % 11 if i != 5 else None,
            }
        )
    return rows


def order_rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(1, 41):
        customer = (i % 7) + 1  # customer 8 has no orders
        data: Any = {
            "settings": {"theme": "dark" if i % 2 else "light", "size": i % 5},
            "tags": ["t" + str(i % 3)],
        }
        if i % 4 == 0:
            data["email"] = f"o{i}@example.com"
        if i % 5 == 0:
            data["phone"] = "555"
        if i % 10 == 0:
            data = None
        rows.append(
            {
                "id": i,
                "customer_id": customer,
                "region": REGIONS[i % 3],
                "status": STATUSES[i % 3] if i % 7 else "paid",
                "amount": Decimal(i * 13 % 50) + Decimal("0.25") * (i % 4),
                "qty": (i * 7) % 9 + 1,
                "created_at": BASE + dt.timedelta(days=i * 3, hours=i),
                "shipped_at": None if i % 6 == 0 else BASE + dt.timedelta(days=i * 3 + 2),
                "data": data,
            }
        )
    return rows


CATEGORY_ROWS = [
    {"id": 1, "parent_id": None, "name": "root"},
    {"id": 2, "parent_id": 1, "name": "electronics"},
    {"id": 3, "parent_id": 1, "name": "books"},
    {"id": 4, "parent_id": 2, "name": "phones"},
    {"id": 5, "parent_id": 4, "name": "android"},
    {"id": 6, "parent_id": None, "name": "other-root"},
    {"id": 7, "parent_id": 6, "name": "misc"},
]


async def load(db: str) -> None:
    from matrx_orm import create_all

    await create_all(db, models=ALL)
    for model in ALL:
        await executor.execute(db, f'TRUNCATE "{model._meta.table_name}"', [])
    await AdvCustomer.bulk_create(customer_rows())
    await AdvOrder.bulk_create(order_rows())
    await AdvCategory.bulk_create(CATEGORY_ROWS)
    await AdvNote.bulk_create(NOTE_ROWS)
