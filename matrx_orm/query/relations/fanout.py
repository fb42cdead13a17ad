"""Run several relation loads: concurrently on the pools, serially inside a transaction.

An asyncpg connection runs one query at a time, and savepoints opened by concurrent tasks on one connection
would unwind each other. So when the current task holds a transaction on any database a load touches, the
loads run one after the other; each resilient load then runs in its own savepoint (owning the connection
meanwhile, see ``db/transaction.exclusive_savepoint``), so one failing query does not abort the caller's
transaction. Outside a transaction they run concurrently on the pools.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ...db.context import in_transaction, transaction_for
from ...db.transaction import exclusive_savepoint

log = logging.getLogger("matrx_orm.relations")


@dataclass(frozen=True, slots=True)
class Job:
    """One load: its result key, the databases it queries, and the coroutine factory that runs it."""

    key: str
    databases: tuple[str, ...]
    run: Callable[[], Awaitable[Any]]


def serial(databases: Iterable[str]) -> bool:
    """Whether loads touching ``databases`` must run one at a time (a transaction is open on one)."""
    return any(map(in_transaction, databases))


async def run_jobs(jobs: Sequence[Job]) -> dict[str, Any]:
    """Run every job and return ``{key: result}``; the first error propagates."""
    if not jobs:
        return {}
    if len(jobs) == 1 or serial(db for job in jobs for db in job.databases):
        return {job.key: await job.run() for job in jobs}
    results = await asyncio.gather(*(job.run() for job in jobs))
    return {job.key: result for job, result in zip(jobs, results, strict=True)}


async def run_resilient(jobs: Sequence[Job], fallback: Callable[[str], Any], owner: str) -> dict[str, Any]:
    """Like ``run_jobs`` but a failing job logs one warning and yields ``fallback(key)``."""

    async def guarded(job: Job) -> Any:
        try:
            held = [tx for name in sorted(job.databases) if (tx := await transaction_for(name)) is not None]
            if not held:
                return await job.run()
            return await exclusive_savepoint(held, job.run)
        except Exception as exc:  # resilient by contract: report and carry on with the next relation
            message = getattr(exc, "message", None) or str(exc)
            log.warning(
                "[%s] could not load relation '%s': %s: %s", owner, job.key, type(exc).__name__, message
            )
            return fallback(job.key)

    wrapped = [Job(job.key, job.databases, functools.partial(guarded, job)) for job in jobs]
    return await run_jobs(wrapped)
