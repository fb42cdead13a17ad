"""The write paths: instance saves and deletes, bulk writes (COPY, ``unnest``), upserts, writes by query and
many-to-many junction writes, with the value checks they make before any statement.

It may import ``sql`` (statements come from the compiler), ``meta``, ``state`` (every write invalidates the
row cache), ``db`` (the executor runs the statements) and the ground floor; never ``query`` or ``model``.
"""

from .results import UpdateResult

__all__ = ["UpdateResult"]
