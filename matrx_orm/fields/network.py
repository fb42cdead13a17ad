"""Network and other PostgreSQL-specific scalar types: INET, CIDR, MACADDR, POINT and BYTEA."""

from __future__ import annotations

import ipaddress
import math
import numbers
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

import sqlalchemy as sa
from asyncpg import Point
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine, UserDefinedType
from typing_extensions import TypeVar

from .base import Field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_ADDRESS_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)
_NETWORK_TYPES = (ipaddress.IPv4Network, ipaddress.IPv6Network)

# what reading each field gives when the class is named without arguments (see Field's docstring)
_AddressR = TypeVar("_AddressR", default=IPAddress | None)
_NetworkR = TypeVar("_NetworkR", default=IPNetwork | None)
_StrR = TypeVar("_StrR", default=str | None)
_PointR = TypeVar("_PointR", default=Point | None)
_BytesR = TypeVar("_BytesR", default=bytes | None)


class IPAddressField(Field[IPAddress, _AddressR]):
    """``INET``: a host address, optionally with a netmask (``10.0.0.5/24``).

    Strings become ``ipaddress`` objects: an address, or an interface when a prefix shorter than the full
    length is given (asyncpg returns the same types).
    """

    python_type = ipaddress.IPv4Address
    lookup_family = "other"
    version: ClassVar[int | None] = None

    if TYPE_CHECKING:

        @overload
        def __init__(
            self: IPAddressField[IPAddress], *, primary_key: Literal[True], **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(
            self: IPAddressField[IPAddress], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: IPAddressField[IPAddress], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: IPAddressField[IPAddress | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return postgresql.INET()

    def to_python(self, value: Any) -> IPAddress | None:
        if value is None:
            return None
        address: IPAddress
        if isinstance(value, _ADDRESS_TYPES):
            address = value
        elif isinstance(value, _NETWORK_TYPES):
            address = ipaddress.ip_interface(str(value))
        elif isinstance(value, str):
            text = value.strip()
            try:
                address = ipaddress.ip_interface(text) if "/" in text else ipaddress.ip_address(text)
            except ValueError:
                self.fail(value, "not a valid IP address")
        else:
            self._type_error(value, "an IP address string or ipaddress object")
        if isinstance(address, ipaddress.IPv4Interface | ipaddress.IPv6Interface) and (
            address.network.prefixlen == address.max_prefixlen
        ):
            address = address.ip
        if self.version is not None and address.version != self.version:
            self.fail(value, f"expected an IPv{self.version} address")
        return address


class IPv4Field(IPAddressField[_AddressR]):
    """``INET`` restricted to IPv4 addresses."""

    version = 4

    if TYPE_CHECKING:

        @overload
        def __init__(self: IPv4Field[IPAddress], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: IPv4Field[IPAddress], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: IPv4Field[IPAddress], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: IPv4Field[IPAddress | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...


class IPv6Field(IPAddressField[_AddressR]):
    """``INET`` restricted to IPv6 addresses."""

    version = 6

    if TYPE_CHECKING:

        @overload
        def __init__(self: IPv6Field[IPAddress], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: IPv6Field[IPAddress], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: IPv6Field[IPAddress], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: IPv6Field[IPAddress | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...


class IPNetworkField(Field[IPNetwork, _NetworkR]):
    """``CIDR``: a network (``10.0.0.0/8``); host bits must be zero, as PostgreSQL requires."""

    python_type = ipaddress.IPv4Network
    lookup_family = "other"

    if TYPE_CHECKING:

        @overload
        def __init__(
            self: IPNetworkField[IPNetwork], *, primary_key: Literal[True], **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(
            self: IPNetworkField[IPNetwork], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: IPNetworkField[IPNetwork], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: IPNetworkField[IPNetwork | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return postgresql.CIDR()

    def to_python(self, value: Any) -> IPNetwork | None:
        if value is None or isinstance(value, _NETWORK_TYPES):
            return value
        if isinstance(value, str | ipaddress.IPv4Address | ipaddress.IPv6Address):
            text = str(value).strip()
        elif isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
            text = value.with_prefixlen
        else:
            self._type_error(value, "a CIDR string or ipaddress network")
        try:
            return ipaddress.ip_network(text)
        except ValueError as exc:
            self.fail(value, f"not a valid CIDR network ({exc})")


_MAC_FORMATS = (
    re.compile(
        r"^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$"
    ),
    re.compile(r"^([0-9a-f]{6})[:-]?([0-9a-f]{6})$"),
    re.compile(r"^([0-9a-f]{4})[.-]([0-9a-f]{4})[.-]([0-9a-f]{4})$"),
)


class MacAddressField(Field[str, _StrR]):
    """``MACADDR``: any format PostgreSQL reads (``08:00:2b:01:02:03``, ``08-00-2b-01-02-03``,
    ``08002b:010203``, ``0800.2b01.0203``, ``08002b010203``), normalized to ``08:00:2b:01:02:03``."""

    python_type = str
    lookup_family = "text"

    if TYPE_CHECKING:

        @overload
        def __init__(self: MacAddressField[str], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: MacAddressField[str], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: MacAddressField[str], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: MacAddressField[str | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return postgresql.MACADDR()

    def to_python(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self._type_error(value, "a MAC address string")
        text = value.strip().lower()
        for pattern in _MAC_FORMATS:
            match = pattern.match(text)
            if match:
                digits = "".join(match.groups())
                return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
        self.fail(value, "not a valid MAC address")


class POINT(UserDefinedType[Any]):
    """SQLAlchemy type for PostgreSQL's ``POINT``."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "POINT"


_POINT_TEXT = re.compile(r"^\(?\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*\)?$")


class PointField(Field[Point, _PointR]):
    """``POINT``: ``asyncpg.Point`` values; ``(x, y)`` tuples/lists, ``{"x":, "y":}`` dicts and ``"(x,y)"``
    strings are accepted."""

    python_type = Point
    lookup_family = "other"

    if TYPE_CHECKING:

        @overload
        def __init__(self: PointField[Point], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: PointField[Point], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: PointField[Point], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: PointField[Point | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return POINT()

    def _coord(self, whole: Any, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal | str):
            self.fail(whole, "coordinates must be numbers")
        try:
            number = float(value)
        except ValueError:
            self.fail(whole, "coordinates must be numbers")
        if not math.isfinite(number):
            self.fail(whole, "coordinates must be finite")
        return number

    def to_python(self, value: Any) -> Point | None:
        if value is None or isinstance(value, Point):
            return value
        if isinstance(value, dict) and set(value) == {"x", "y"}:
            pair: Any = (value["x"], value["y"])
        elif isinstance(value, str):
            match = _POINT_TEXT.match(value.strip())
            if match is None:
                self.fail(value, "expected '(x,y)'")
            pair = match.groups()
        elif isinstance(value, tuple | list):
            pair = value
        else:
            self._type_error(value, "an (x, y) pair")
        if len(pair) != 2:
            self.fail(value, f"expected 2 coordinates, got {len(pair)}")
        return Point(self._coord(value, pair[0]), self._coord(value, pair[1]))


class BinaryField(Field[bytes, _BytesR]):
    """``BYTEA``: bytes (bytearray and memoryview are copied to bytes)."""

    python_type = bytes
    lookup_family = "other"

    if TYPE_CHECKING:

        @overload
        def __init__(self: BinaryField[bytes], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: BinaryField[bytes], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: BinaryField[bytes], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: BinaryField[bytes | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return sa.LargeBinary()

    def to_python(self, value: Any) -> bytes | None:
        if value is None or type(value) is bytes:
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):
            self.fail(value, "expected bytes, got str (encode it first)")
        self._type_error(value, "bytes")
