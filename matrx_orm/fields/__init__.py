"""Field classes: SQLAlchemy column types, python <-> database coercion and validation."""

from __future__ import annotations

from .base import NOT_PROVIDED, Field
from .network import POINT as POINT
from .network import (
    BinaryField,
    IPAddressField,
    IPNetworkField,
    IPv4Field,
    IPv6Field,
    MacAddressField,
    PointField,
)
from .numeric import (
    BigIntegerField,
    BooleanField,
    DecimalField,
    FloatField,
    IntegerField,
    MoneyField,
    SmallIntegerField,
    VersionField,
)
from .relations import ManyToManyField
from .structured import (
    ArrayField,
    BooleanArrayField,
    DateArrayField,
    DecimalArrayField,
    FloatArrayField,
    HStoreField,
    IntegerArrayField,
    JSONBArrayField,
    JSONBField,
    JSONField,
    TextArrayField,
    TimeArrayField,
    UUIDArrayField,
)
from .temporal import DateField, DateTimeField, TimeDeltaField, TimeField
from .text import CharField, EmailField, EnumField, SlugField, TextField, UUIDField
from .vector import HalfVectorField, SparseVectorField, VectorField

#: every concrete field class by class name (codegen, docs and ``Field`` lookups by name)
FIELD_TYPES: dict[str, type[Field]] = {  # type: ignore[type-arg]
    cls.__name__: cls
    for cls in (
        UUIDField, CharField, TextField, EmailField, SlugField, EnumField,
        IntegerField, BigIntegerField, SmallIntegerField, FloatField, DecimalField, BooleanField, MoneyField,
        VersionField,
        DateTimeField, DateField, TimeField, TimeDeltaField,
        JSONField, JSONBField, HStoreField,
        ArrayField, TextArrayField, IntegerArrayField, FloatArrayField, BooleanArrayField, UUIDArrayField,
        JSONBArrayField, DecimalArrayField, DateArrayField, TimeArrayField,
        IPAddressField, IPv4Field, IPv6Field, IPNetworkField, MacAddressField, PointField, BinaryField,
        VectorField, HalfVectorField, SparseVectorField,
        ManyToManyField,
    )
}

__all__ = [
    "FIELD_TYPES", "NOT_PROVIDED", "ArrayField", "BigIntegerField", "BinaryField", "BooleanArrayField",
    "BooleanField", "CharField", "DateArrayField", "DateField", "DateTimeField", "DecimalArrayField",
    "DecimalField", "EmailField", "EnumField", "Field", "FloatArrayField", "FloatField", "HStoreField",
    "HalfVectorField", "IPAddressField", "IPNetworkField", "IPv4Field", "IPv6Field", "IntegerArrayField",
    "IntegerField", "JSONBArrayField", "JSONBField", "JSONField", "MacAddressField", "ManyToManyField",
    "MoneyField", "PointField", "SlugField", "SmallIntegerField", "SparseVectorField", "TextArrayField",
    "TextField", "TimeArrayField", "TimeDeltaField", "TimeField", "UUIDArrayField", "UUIDField",
    "VectorField", "VersionField",
]
