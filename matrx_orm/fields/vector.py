"""pgvector columns: VectorField (``vector(n)``), HalfVectorField (``halfvec(n)``), SparseVectorField
(``sparsevec(n)``)."""

from __future__ import annotations

import math
import numbers
from array import array as FloatArray
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy
from pgvector import HalfVector, SparseVector, Vector
from pgvector.sqlalchemy import HALFVEC, SPARSEVEC, VECTOR
from sqlalchemy.types import TypeEngine
from typing_extensions import TypeVar

from .base import Field

_DTYPES = {
    "float32": "vector",
    "vector": "vector",
    "halfvec": "halfvec",
    "float16": "halfvec",
    "sparsevec": "sparsevec",
    "sparse": "sparsevec",
}
#: largest dimension pgvector accepts per column type
MAX_DIMENSIONS = {"vector": 16000, "halfvec": 16000, "sparsevec": 1_000_000_000}
HALF_MAX = 65504.0

# what reading each field gives when the class is named without arguments (see Field's docstring)
_VectorR = TypeVar("_VectorR", default=list[float] | None)


class VectorField(Field[list[float], _VectorR]):
    """A pgvector column of exactly ``dimensions`` elements.

    ``dtype``: ``"float32"`` (``vector``, default), ``"halfvec"`` or ``"sparsevec"``. Writes accept a list,
    tuple, 1-D numpy array or pgvector object of finite numbers (sparse: also a ``SparseVector`` or an
    ``{index: value}`` dict, 0-based); the dimension is checked before any round trip. Reads are
    ``list[float]`` (sparse vectors too, densified).
    """

    python_type = list
    lookup_family = "vector"
    needs_from_db = True
    default_dtype = "float32"

    @overload
    def __init__(
        self: VectorField[list[float]],
        dimensions: int | None = None,
        dtype: str | None = None,
        *,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: VectorField[list[float]],
        dimensions: int | None = None,
        dtype: str | None = None,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: VectorField[list[float]],
        dimensions: int | None = None,
        dtype: str | None = None,
        *,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: VectorField[list[float] | None],
        dimensions: int | None = None,
        dtype: str | None = None,
        **kwargs: Any,
    ) -> None: ...
    def __init__(self, dimensions: int | None = None, dtype: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dtype = dtype or self.default_dtype
        kind = _DTYPES.get(dtype)
        if kind is None:
            raise TypeError(f"VectorField dtype must be one of {sorted(_DTYPES)}; got {dtype!r}")
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
            raise TypeError(f"{type(self).__name__} needs dimensions=<positive int>; got {dimensions!r}")
        if dimensions > MAX_DIMENSIONS[kind]:
            raise TypeError(
                f"{kind} columns hold at most {MAX_DIMENSIONS[kind]} dimensions; got {dimensions}"
            )
        self.dimensions = dimensions
        self.dtype = dtype
        self.kind = kind

    def sa_type(self) -> TypeEngine[Any]:
        if self.kind == "halfvec":
            return HALFVEC(self.dimensions)
        if self.kind == "sparsevec":
            return SPARSEVEC(self.dimensions)
        return VECTOR(self.dimensions)

    # -- conversion ------------------------------------------------------------------------------------------
    def _parse_text(self, value: str) -> Any:
        text = value.strip()
        if text.startswith("{"):
            try:
                return SparseVector.from_text(text)
            except (ValueError, IndexError):
                self.fail(value, "not a sparse vector literal '{i:v,...}/n'")
        if not (text.startswith("[") and text.endswith("]")):
            self.fail(value, "expected a list of numbers or a '[x,y,...]' literal")
        inner = text[1:-1].strip()
        try:
            return [float(x) for x in inner.split(",")] if inner else []
        except ValueError:
            self.fail(value, "not a vector literal '[x,y,...]'")

    def _dense(self, value: Any, whole: Any) -> Any:
        """A validated 1-D float32 numpy array of ``dimensions`` finite numbers."""
        np = numpy
        if value.__class__ is list and value and value[0].__class__ is float:
            numbers = _float32(value)  # no float64 array between (the usual query vector)
            if numbers is not None:
                return self._checked(numbers, whole)
        if isinstance(value, Vector | HalfVector | SparseVector):
            value = value.to_numpy()
        elif isinstance(value, str):
            value = self._parse_text(value)
            if isinstance(value, SparseVector):
                value = value.to_numpy()
        elif isinstance(value, dict):
            value = self._sparse_from_dict(value, whole).to_numpy()
        elif not isinstance(value, list | tuple | np.ndarray):
            self._type_error(whole, "a list of numbers")
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            self.fail(whole, "expected a flat list of numbers")
        if array.dtype.kind == "O" and isinstance(value, list | tuple):  # Decimal, Fraction, huge ints...
            numbers = _float32(value)
            if numbers is not None:
                return self._checked(numbers, whole)
        if array.dtype.kind not in "iuf":
            self.fail(whole, f"expected numbers, got elements of dtype {array.dtype}")
        if array.ndim != 1:
            self.fail(whole, f"expected a 1-D vector, got shape {array.shape}")
        if array.dtype != np.float32:  # one too large for float32 becomes infinite, refused by the check
            with np.errstate(over="ignore", invalid="ignore"):
                array = array.astype(np.float32)
        return self._checked(array, whole)

    def _checked(self, array: Any, whole: Any) -> Any:
        """``array`` (1-D float32) once its elements are known finite (and within halfvec's range)."""
        np = numpy
        if array.shape[0] != self.dimensions:
            self.fail(
                whole,
                f"expected {self.dimensions} dimensions, got {array.shape[0]}",
                expected_dimensions=self.dimensions,
                actual_dimensions=int(array.shape[0]),
            )
        if not np.isfinite(array).all():
            self.fail(whole, "vector elements must be finite (no NaN or infinity)")
        if self.kind == "halfvec" and array.size and float(np.abs(array).max()) > HALF_MAX:
            self.fail(whole, f"halfvec elements must be within ±{HALF_MAX:g}")
        return array

    def _sparse_from_dict(self, value: dict[Any, Any], whole: Any) -> SparseVector:
        clean: dict[int, float] = {}
        for index, item in value.items():
            if isinstance(index, bool) or not isinstance(index, numbers.Integral):
                self.fail(whole, f"sparse indices must be ints, got {index!r}")
            index = int(index)
            if not 0 <= index < self.dimensions:
                self.fail(
                    whole, f"sparse index {index} out of range for {self.dimensions} dimensions (0-based)"
                )
            if isinstance(item, bool) or not isinstance(item, numbers.Real):
                self.fail(whole, f"sparse value at {index} must be a number, got {type(item).__name__}")
            if not math.isfinite(item):
                self.fail(whole, "vector elements must be finite (no NaN or infinity)")
            clean[index] = float(item)
        return SparseVector(clean, self.dimensions)

    def _sparse(self, value: Any) -> SparseVector:
        if isinstance(value, SparseVector):
            if value.dimensions() != self.dimensions:
                self.fail(
                    value,
                    f"expected {self.dimensions} dimensions, got {value.dimensions()}",
                    expected_dimensions=self.dimensions,
                    actual_dimensions=value.dimensions(),
                )
            if not all(math.isfinite(v) for v in value.values()):
                self.fail(value, "vector elements must be finite (no NaN or infinity)")
            return value
        if isinstance(value, dict):
            return self._sparse_from_dict(value, value)
        if isinstance(value, str):
            parsed = self._parse_text(value)
            if isinstance(parsed, SparseVector):
                return self._sparse(parsed)
        return SparseVector(self._dense(value, value))

    def to_python(self, value: Any) -> list[float] | None:
        if value is None or type(value) is list:
            return value
        if isinstance(value, Vector | HalfVector | SparseVector):
            return value.to_list()
        if isinstance(value, str):
            parsed = self._parse_text(value)
            return parsed.to_list() if isinstance(parsed, SparseVector) else parsed
        if isinstance(value, dict):
            return self._sparse_from_dict(value, value).to_list()
        if isinstance(value, tuple):
            return list(value)
        tolist = getattr(value, "tolist", None)
        if callable(tolist):
            result = tolist()
            if isinstance(result, list):
                return result
        self._type_error(value, "a list of numbers")

    def to_db(self, value: Any) -> Any:
        """A validated float32 numpy array (``SparseVector`` for sparsevec) for pgvector's codec."""
        if value is None:
            return None
        result = self._sparse(value) if self.kind == "sparsevec" else self._dense(value, value)
        if self.validators:
            self.validate(self.to_python(value))
        return result

    def db_value(self, value: Any) -> Any:
        """As :meth:`to_db` for a value already through ``to_python``: dimensions and elements are checked."""
        return self._sparse(value) if self.kind == "sparsevec" else self._dense(value, value)

    def from_db(self, value: Any) -> list[float] | None:
        if isinstance(value, Vector | HalfVector):
            return value.to_list()
        if isinstance(value, SparseVector):  # also parsed from text (SQLAlchemy's type): float32 values
            return self._stored(value.to_list())
        if isinstance(value, str):  # text (a connection without pgvector's codecs, e.g. SQLAlchemy's)
            parsed = self._parse_text(value)
            return self._stored(parsed.to_list() if isinstance(parsed, SparseVector) else parsed)
        if isinstance(value, list):  # a list parsed from text (SQLAlchemy's pgvector types)
            return self._stored(value)
        tolist = getattr(value, "tolist", None)
        if callable(tolist):
            return tolist()  # type: ignore[no-any-return]
        return value  # type: ignore[no-any-return]

    def _stored(self, values: list[float]) -> list[float]:
        """``values`` at the column's precision (float32, float16 for halfvec), as the binary codec reads them."""
        dtype = numpy.float16 if self.kind == "halfvec" else numpy.float32
        return numpy.asarray(values, dtype=dtype).tolist()  # type: ignore[no-any-return]


def _float32(values: list[Any] | tuple[Any, ...]) -> Any:
    """``values`` as a float32 array when each is a real number (one too large for float32 becomes
    infinite); None when one is not."""
    try:
        return numpy.frombuffer(FloatArray("f", values), dtype=numpy.float32)
    except Exception:  # noqa: BLE001 (a non-number, or a number-like whose __float__ fails)
        return None


class HalfVectorField(VectorField[_VectorR]):
    """``halfvec(n)``: half-precision vectors (elements within ±65504)."""

    default_dtype = "halfvec"

    if TYPE_CHECKING:

        @overload
        def __init__(
            self: HalfVectorField[list[float]],
            dimensions: int | None = None,
            dtype: str | None = None,
            *,
            primary_key: Literal[True],
            **kwargs: Any,
        ) -> None: ...
        @overload
        def __init__(
            self: HalfVectorField[list[float]],
            dimensions: int | None = None,
            dtype: str | None = None,
            *,
            null: Literal[False],
            nullable: None = None,
            **kwargs: Any,
        ) -> None: ...
        @overload
        def __init__(
            self: HalfVectorField[list[float]],
            dimensions: int | None = None,
            dtype: str | None = None,
            *,
            nullable: Literal[False],
            **kwargs: Any,
        ) -> None: ...
        @overload
        def __init__(
            self: HalfVectorField[list[float] | None],
            dimensions: int | None = None,
            dtype: str | None = None,
            **kwargs: Any,
        ) -> None: ...
        def __init__(
            self, dimensions: int | None = None, dtype: str | None = None, **kwargs: Any
        ) -> None: ...


class SparseVectorField(VectorField[_VectorR]):
    """``sparsevec(n)``: sparse vectors (write a ``SparseVector``, an ``{index: value}`` dict or a dense list)."""

    default_dtype = "sparsevec"

    if TYPE_CHECKING:

        @overload
        def __init__(
            self: SparseVectorField[list[float]],
            dimensions: int | None = None,
            dtype: str | None = None,
            *,
            primary_key: Literal[True],
            **kwargs: Any,
        ) -> None: ...
        @overload
        def __init__(
            self: SparseVectorField[list[float]],
            dimensions: int | None = None,
            dtype: str | None = None,
            *,
            null: Literal[False],
            nullable: None = None,
            **kwargs: Any,
        ) -> None: ...
        @overload
        def __init__(
            self: SparseVectorField[list[float]],
            dimensions: int | None = None,
            dtype: str | None = None,
            *,
            nullable: Literal[False],
            **kwargs: Any,
        ) -> None: ...
        @overload
        def __init__(
            self: SparseVectorField[list[float] | None],
            dimensions: int | None = None,
            dtype: str | None = None,
            **kwargs: Any,
        ) -> None: ...
        def __init__(
            self, dimensions: int | None = None, dtype: str | None = None, **kwargs: Any
        ) -> None: ...
