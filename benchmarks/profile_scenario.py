"""One contestant of one scenario, repeated, for profilers.

    python benchmarks/profile_scenario.py [--scenario get-by-pk] [--raw] [--repeat 3] [--cprofile [--top 25]]
    python -m cProfile -s cumtime benchmarks/profile_scenario.py --repeat 3 | head -60

Uses the full-size workload of ``run.py`` (``--quick`` for the smaller one). ``--cprofile`` profiles only the
repeated timed blocks (no server start, seeding, imports or warm-up in the numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time
import warnings

from _harness import describe_error
from _setup import FULL, QUICK, close_context, create_database, drop_database, open_context, server_url
from scenarios import SCENARIOS


async def main(args: argparse.Namespace) -> int:
    scenario = SCENARIOS[args.scenario]
    fn = scenario.raw_fn if args.raw else scenario.orm_fn
    who = "asyncpg" if args.raw else "matrx-orm"
    admin_url, _source = server_url()
    db_name = f"matrx_bench_profile_{os.getpid()}"
    url = await create_database(admin_url, db_name)
    try:
        ctx = await open_context(url, QUICK if args.quick else FULL)
        try:
            if ctx.orm_error and not args.raw:
                print(f"ORM unavailable: {ctx.orm_error}", file=sys.stderr)
                return 1
            await scenario.setup(ctx)
            try:
                data = await scenario.prepare(ctx, -1)
                await fn(ctx, data)  # warm-up: pool, statement caches, compiled SQL
            except Exception as exc:
                print(f"{who} failed: {describe_error(exc)}", file=sys.stderr)
                return 1
            profiler = cProfile.Profile() if args.cprofile else None
            times: list[float] = []
            for round_no in range(args.repeat):
                data = await scenario.prepare(ctx, round_no)
                if profiler is not None:
                    profiler.enable()
                start = time.perf_counter()
                await fn(ctx, data)
                times.append((time.perf_counter() - start) * 1000)
                if profiler is not None:
                    profiler.disable()
            ops = scenario.ops(ctx)
            best = min(times)
            print(
                f"{who} {scenario.name}: blocks {', '.join(f'{t:.1f}' for t in times)} ms; "
                f"best {best:.1f} ms = {best / ops * 1000:.1f} us/op ({ops} ops per block)"
            )
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())
        finally:
            await close_context(ctx)
    finally:
        await drop_database(admin_url, db_name)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="get-by-pk", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--raw", action="store_true", help="run the raw asyncpg contestant instead of the ORM"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed blocks (default 3)")
    parser.add_argument("--quick", action="store_true", help="the smaller workload of run.py --quick")
    parser.add_argument(
        "--cprofile", action="store_true", help="profile only the timed blocks, print the stats"
    )
    parser.add_argument("--top", type=int, default=25, help="lines of stats to print (default 25)")
    parser.add_argument("--sort", default="cumtime", help="pstats sort key (cumtime, tottime, ...)")
    return parser.parse_args()


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
    sys.exit(asyncio.run(main(parse_args())))
