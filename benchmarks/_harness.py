"""The timing machinery of the benchmark harness: scenarios, interleaved rounds, results and the report.

Nothing here knows about matrx-orm or the ``bench`` table; scenarios (``scenarios.py``) plug in through
:class:`Scenario`, and everything they need at run time travels in a context object (``_setup.Context``).
A scenario has a baseline (``raw_fn``, reported as ``asyncpg``), a subject (``orm_fn``, ``matrx-orm``) and any
number of peers (other contestants by name); the target is judged on subject / baseline.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

Contestant = str  # a contestant's name, as reported
BASELINE: Contestant = "asyncpg"
SUBJECT: Contestant = "matrx-orm"

# A contestant's timed body: (context, the round's prepared data) -> result (checked once, after warm-up).
RunFn = Callable[[Any, Any], Awaitable[Any]]
# Once per scenario, before warm-up (e.g. make sure the seed rows are there).
SetupFn = Callable[[Any], Awaitable[None]]
# Before every timed block, untimed: reset the table if needed and return the block's input data. It gets the
# round number and must return the same data for every contestant of a round (seed any randomness with it).
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
    """One benchmark: several contestants doing the same work on the same data."""

    name: str
    description: str
    raw_fn: RunFn  # the baseline, reported as BASELINE
    orm_fn: RunFn  # the subject, reported as SUBJECT
    target: float  # the ratio subject / baseline we want to stay at or under
    setup: SetupFn = _no_setup
    prepare: PrepareFn = _no_prepare
    check: CheckFn = _no_check
    ops: Callable[[Any], int] = lambda ctx: 1  # operations per timed block (for the per-op column)
    peers: Mapping[Contestant, RunFn] = field(default_factory=dict)  # more contestants, in report order
    target_us: float | None = None  # if set, judge the subject's median µs per operation instead

    def contestants(self) -> dict[Contestant, RunFn]:
        """Every contestant's timed body, baseline and subject first."""
        return {BASELINE: self.raw_fn, SUBJECT: self.orm_fn, **self.peers}

    def with_peers(self, peers: Mapping[Contestant, RunFn]) -> Scenario:
        """This scenario with more contestants (added after the existing peers)."""
        return replace(self, peers={**self.peers, **peers})


@dataclass
class ContestantResult:
    times_ms: list[float] = field(default_factory=list)
    error: str | None = None

    def _times(self) -> list[float] | None:
        return self.times_ms if self.times_ms and self.error is None else None

    @property
    def median_ms(self) -> float | None:
        times = self._times()
        return statistics.median(times) if times else None

    @property
    def min_ms(self) -> float | None:
        times = self._times()
        return min(times) if times else None

    @property
    def spread(self) -> float | None:
        """(max - min) / median: how much the rounds disagree."""
        times = self._times()
        median = self.median_ms
        return (max(times) - min(times)) / median if times and median else None


@dataclass
class ScenarioResult:
    name: str
    description: str
    target: float
    ops_per_block: int
    results: dict[Contestant, ContestantResult]
    error: str | None = None  # the scenario's own setup failed
    target_us: float | None = None

    def ratio_to_baseline(self, who: Contestant, *, mins: bool = False) -> float | None:
        """``who``'s median (or fastest block) over the baseline's."""
        pick = (lambda r: r.min_ms) if mins else (lambda r: r.median_ms)
        base, mine = pick(self.results[BASELINE]), pick(self.results[who])
        if base is None or mine is None or base <= 0:
            return None
        return mine / base

    @property
    def ratio(self) -> float | None:
        return self.ratio_to_baseline(SUBJECT)

    @property
    def ratio_of_mins(self) -> float | None:
        """Less sensitive to a noisy machine than the ratio of medians (shown, not judged)."""
        return self.ratio_to_baseline(SUBJECT, mins=True)

    def us_per_op(self, who: Contestant) -> float | None:
        median = self.results[who].median_ms
        return None if median is None else median * 1000.0 / max(self.ops_per_block, 1)

    @property
    def ok(self) -> bool | None:
        if self.target_us is not None:
            per_op = self.us_per_op(SUBJECT)
            return None if per_op is None else per_op <= self.target_us
        ratio = self.ratio
        return None if ratio is None else ratio <= self.target

    def target_text(self) -> str:
        return f"<= {self.target_us:g} us/op" if self.target_us is not None else f"<= {self.target:.2f}x"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "target": self.target_text(),
            "ops_per_block": self.ops_per_block,
            "error": self.error,
            "ratio": self.ratio,
            "ratio_of_mins": self.ratio_of_mins,
            "ok": self.ok,
            "contestants": {
                who: {
                    "times_ms": res.times_ms,
                    "error": res.error,
                    "median_ms": res.median_ms,
                    "min_ms": res.min_ms,
                    "spread": res.spread,
                    "us_per_op": self.us_per_op(who),
                    "ratio_to_baseline": self.ratio_to_baseline(who),
                }
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


async def _warm_up(
    scenario: Scenario, ctx: Any, who: Contestant, fn: RunFn, warmup: int, timeout: float
) -> str | None:
    """Untimed runs; the first one's result is checked. Returns why the contestant failed, or None."""
    try:
        for i in range(max(warmup, 1)):
            data = await scenario.prepare(ctx, -1 - i)
            _, result = await _timed(fn, ctx, data, timeout)
            if i == 0:
                try:
                    problem = await scenario.check(ctx, who, data, result)
                except Exception as exc:  # a result of an unexpected shape
                    problem = f"{describe_error(exc)} (result: {result!r:.120})"
                if problem is not None:
                    return f"wrong result: {problem}"
    except Exception as exc:
        return describe_error(exc)
    return None


async def run_scenario(
    scenario: Scenario,
    ctx: Any,
    *,
    rounds: int,
    warmup: int,
    timeout: float,
    unavailable: Mapping[Contestant, str],
    log: Callable[[str], None],
) -> ScenarioResult:
    """Set up, warm every contestant up (checking their results once), then time ``rounds`` interleaved
    rounds. Each round runs every contestant on the same prepared data; the order alternates (A B C, C B A,
    A B C, ...) so that of any two contestants each goes first in half the rounds. A contestant that raises
    is marked failed for this scenario and left out of the remaining rounds; the others carry on.
    ``unavailable`` names contestants that cannot run at all (and why)."""
    fns = scenario.contestants()
    results = {who: ContestantResult(error=unavailable.get(who)) for who in fns}
    outcome = ScenarioResult(
        scenario.name,
        scenario.description,
        scenario.target,
        scenario.ops(ctx),
        results,
        target_us=scenario.target_us,
    )
    try:
        await scenario.setup(ctx)
    except Exception as exc:
        outcome.error = f"setup failed: {describe_error(exc)}"
        return outcome

    for who, fn in fns.items():
        if results[who].error is None:
            results[who].error = await _warm_up(scenario, ctx, who, fn, warmup, timeout)
            if results[who].error is not None:
                log(f"  {scenario.name}: {who} failed during warm-up: {results[who].error}")

    names = list(fns)
    for round_no in range(rounds):
        line = []
        for who in names if round_no % 2 == 0 else names[::-1]:
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
            line.append(f"{who} {elapsed:.2f} ms")
        if line:
            log(f"  {scenario.name} round {round_no + 1}/{rounds}: " + " | ".join(line))
    return outcome


# -- report --------------------------------------------------------------------------------------------


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def render_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = (
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def format_contestants(outcomes: list[ScenarioResult]) -> str:
    """Every contestant of every scenario: median, fastest block, spread, µs per operation, × baseline."""
    header = ["scenario", "contestant", "median ms", "min ms", "spread", "us/op", f"x {BASELINE}"]
    rows: list[list[str]] = []
    for out in outcomes:
        for i, (who, res) in enumerate(out.results.items()):
            rows.append(
                [
                    out.name if i == 0 else "",
                    who,
                    _fmt(res.median_ms, "{:.2f}"),
                    _fmt(res.min_ms, "{:.2f}"),
                    _fmt(None if res.spread is None else res.spread * 100, "{:.0f}%"),
                    _fmt(out.us_per_op(who), "{:.1f}"),
                    "failed" if res.error else _fmt(out.ratio_to_baseline(who), "{:.2f}x"),
                ]
            )
    return render_table(header, rows)


def format_table(outcomes: list[ScenarioResult]) -> str:
    """The targets: subject / baseline per scenario (medians and fastest blocks), then any errors."""
    header = [
        "scenario",
        f"{BASELINE} median ms",
        f"{SUBJECT} median ms",
        "ratio",
        "target",
        "ok?",
        "ratio of mins",
    ]
    rows: list[list[str]] = []
    notes: list[str] = []
    for out in outcomes:
        ok = out.ok
        ratio = out.ratio
        if out.target_us is not None:
            ratio_text = _fmt(out.us_per_op(SUBJECT), "{:.2f} us/op")
        else:
            ratio_text = _fmt(ratio, "{:.2f}x")
        rows.append(
            [
                out.name,
                _fmt(out.results[BASELINE].median_ms, "{:.2f}"),
                _fmt(out.results[SUBJECT].median_ms, "{:.2f}"),
                ratio_text,
                out.target_text(),
                "n/a" if ok is None else ("yes" if ok else "NO"),
                _fmt(out.ratio_of_mins, "{:.2f}x"),
            ]
        )
        if out.error:
            notes.append(f"{out.name}: {out.error}")
        notes += [f"{out.name} [{who}]: {res.error}" for who, res in out.results.items() if res.error]
    text = render_table(header, rows)
    if notes:
        text += "\n\nErrors and unavailable contestants:\n" + "\n".join(f"  - {n}" for n in notes)
    return text


def write_json(path: Path, meta: dict[str, Any], outcomes: list[ScenarioResult]) -> None:
    payload = {"meta": meta, "scenarios": [o.to_json() for o in outcomes]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
