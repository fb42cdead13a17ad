"""The timing machinery of the benchmark harness: scenarios, interleaved rounds, results and the report.

Nothing here knows about matrx-orm or the ``bench`` table; scenarios (``scenarios.py``) plug in through
:class:`Scenario`, and everything they need at run time travels in a :class:`Context` (``_setup.py``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Contestant = Literal["asyncpg", "matrx-orm"]
CONTESTANTS: tuple[Contestant, Contestant] = ("asyncpg", "matrx-orm")

# A contestant's timed body: (context, the round's prepared data) -> result (checked once, after warm-up).
RunFn = Callable[[Any, Any], Awaitable[Any]]
# Once per scenario, before warm-up (e.g. make sure the seed rows are there).
SetupFn = Callable[[Any], Awaitable[None]]
# Before every timed block, untimed: reset the table if needed and return the block's input data. It gets the
# round number and must return the same data for both contestants of a round (seed any randomness with it).
PrepareFn = Callable[[Any, int], Awaitable[Any]]
# Validates a contestant's result on the prepared data; returns an error message or None.
CheckFn = Callable[[Any, Contestant, Any, Any], Awaitable[str | None]]


async def _no_setup(ctx: Any) -> None:
    return None


async def _no_prepare(ctx: Any, round_no: int) -> None:
    return None


async def _no_check(ctx: Any, who: Contestant, data: Any, result: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Scenario:
    """One benchmark: two contestants doing the same work on the same data."""

    name: str
    description: str
    raw_fn: RunFn
    orm_fn: RunFn
    target: float  # the ratio matrx-orm / asyncpg we want to stay at or under
    setup: SetupFn = _no_setup
    prepare: PrepareFn = _no_prepare
    check: CheckFn = _no_check
    ops: Callable[[Any], int] = lambda ctx: 1  # operations per timed block (for the per-op column)


@dataclass
class ContestantResult:
    times_ms: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.times_ms) if self.times_ms and self.error is None else None

    @property
    def min_ms(self) -> float | None:
        return min(self.times_ms) if self.times_ms and self.error is None else None


@dataclass
class ScenarioResult:
    name: str
    description: str
    target: float
    ops_per_block: int
    results: dict[Contestant, ContestantResult]
    error: str | None = None  # the scenario's own setup failed

    @property
    def ratio(self) -> float | None:
        raw = self.results["asyncpg"].median_ms
        orm = self.results["matrx-orm"].median_ms
        if raw is None or orm is None or raw <= 0:
            return None
        return orm / raw

    @property
    def ratio_of_mins(self) -> float | None:
        """Less sensitive to a noisy machine than the ratio of medians (shown, not judged)."""
        raw = self.results["asyncpg"].min_ms
        orm = self.results["matrx-orm"].min_ms
        if raw is None or orm is None or raw <= 0:
            return None
        return orm / raw

    @property
    def ok(self) -> bool | None:
        ratio = self.ratio
        return None if ratio is None else ratio <= self.target

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "target": self.target,
            "ops_per_block": self.ops_per_block,
            "error": self.error,
            "ratio": self.ratio,
            "ratio_of_mins": self.ratio_of_mins,
            "ok": self.ok,
            "contestants": {
                who: {**asdict(res), "median_ms": res.median_ms, "min_ms": res.min_ms}
                for who, res in self.results.items()
            },
        }


def describe_error(exc: BaseException) -> str:
    """One line for the table: the exception type and message, plus where in matrx_orm it was raised."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "matrx_orm" in f.filename]
    if frames:
        last = frames[-1]
        text += f" [{Path(last.filename).name}:{last.lineno} in {last.name}]"
    return text[:300]


async def _timed(fn: RunFn, ctx: Any, data: Any, timeout: float) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = await asyncio.wait_for(fn(ctx, data), timeout)
    return (time.perf_counter() - start) * 1000.0, result


async def run_scenario(
    scenario: Scenario,
    ctx: Any,
    *,
    rounds: int,
    warmup: int,
    timeout: float,
    orm_available: str | None,
    log: Callable[[str], None],
) -> ScenarioResult:
    """Set up, warm both contestants up (checking their results once), then time ``rounds`` interleaved
    rounds. Each round runs both contestants on the same prepared data; the one going first alternates
    (A B, B A, A B, ...) so neither always profits from a warmer cache. A contestant that raises is marked
    failed for this scenario and left out of the remaining rounds; the other one carries on."""
    results = {who: ContestantResult() for who in CONTESTANTS}
    fns: dict[Contestant, RunFn] = {"asyncpg": scenario.raw_fn, "matrx-orm": scenario.orm_fn}
    if orm_available is not None:
        results["matrx-orm"].error = orm_available
    outcome = ScenarioResult(scenario.name, scenario.description, scenario.target, scenario.ops(ctx), results)
    try:
        await scenario.setup(ctx)
    except Exception as exc:
        outcome.error = f"setup failed: {describe_error(exc)}"
        return outcome

    for who in CONTESTANTS:
        if results[who].error is not None:
            continue
        try:
            for i in range(max(warmup, 1)):
                data = await scenario.prepare(ctx, -1 - i)
                _, result = await _timed(fns[who], ctx, data, timeout)
                if i == 0:
                    try:
                        problem = await scenario.check(ctx, who, data, result)
                    except Exception as exc:  # a result of an unexpected shape
                        problem = f"{describe_error(exc)} (result: {result!r:.120})"
                    if problem is not None:
                        results[who].error = f"wrong result: {problem}"
                        break
        except Exception as exc:
            results[who].error = describe_error(exc)
        if results[who].error is not None:
            log(f"  {scenario.name}: {who} failed during warm-up: {results[who].error}")

    for round_no in range(rounds):
        order = CONTESTANTS if round_no % 2 == 0 else CONTESTANTS[::-1]
        line = []
        for who in order:
            if results[who].error is not None:
                continue
            try:
                data = await scenario.prepare(ctx, round_no)
                elapsed, _ = await _timed(fns[who], ctx, data, timeout)
            except Exception as exc:
                results[who].error = describe_error(exc)
                log(f"  {scenario.name}: {who} failed in round {round_no + 1}: {results[who].error}")
                continue
            results[who].times_ms.append(elapsed)
            line.append(f"{who} {elapsed:8.2f} ms")
        if line:
            log(f"  {scenario.name} round {round_no + 1}/{rounds}: " + " | ".join(line))
    return outcome


# -- report --------------------------------------------------------------------------------------------


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(outcomes: list[ScenarioResult]) -> str:
    header = [
        "scenario",
        "asyncpg median ms",
        "matrx-orm median ms",
        "ratio",
        "target",
        "ok?",
        "ratio of mins",
    ]
    rows: list[list[str]] = []
    notes: list[str] = []
    for out in outcomes:
        ratio = out.ratio
        ok = out.ok
        rows.append(
            [
                out.name,
                _fmt_ms(out.results["asyncpg"].median_ms),
                _fmt_ms(out.results["matrx-orm"].median_ms),
                "-" if ratio is None else f"{ratio:.2f}x",
                f"<= {out.target:.2f}x",
                "n/a" if ok is None else ("yes" if ok else "NO"),
                "-" if out.ratio_of_mins is None else f"{out.ratio_of_mins:.2f}x",
            ]
        )
        if out.error:
            notes.append(f"{out.name}: {out.error}")
        for who, res in out.results.items():
            if res.error:
                notes.append(f"{out.name} [{who}]: {res.error}")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    text = "\n".join([line(header), sep, *(line(r) for r in rows)])
    if notes:
        text += "\n\nErrors:\n" + "\n".join(f"  - {n}" for n in notes)
    return text


def write_json(path: Path, meta: dict[str, Any], outcomes: list[ScenarioResult]) -> None:
    payload = {"meta": meta, "scenarios": [o.to_json() for o in outcomes]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
