"""matrx-orm vs raw asyncpg, in the same run, on the same server and rows.

    python benchmarks/run.py [--quick] [--only NAME ...] [--rounds N] [--json PATH]

Not part of the test suite: it prints a table and never asserts. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import warnings
from pathlib import Path

from _harness import ScenarioResult, format_table, run_scenario, write_json
from _setup import (
    FULL,
    QUICK,
    close_context,
    create_database,
    drop_database,
    environment,
    open_context,
    server_url,
)
from scenarios import SCENARIOS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds and smaller counts (a smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="timed rounds per contestant (default 5, quick 2)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed warm-up runs per contestant (default 2)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds before a timed block is abandoned"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results here")
    parser.add_argument(
        "--keep-db", action="store_true", help="do not drop the benchmark database afterwards"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-round progress lines")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def main(args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else FULL
    names = args.only or list(SCENARIOS)
    admin_url, source = server_url()
    db_name = f"matrx_bench_{os.getpid()}"
    url = await create_database(admin_url, db_name)
    log(f"server: {source}; database {db_name}")
    outcomes: list[ScenarioResult] = []
    try:
        ctx = await open_context(url, sizes)
        try:
            for note in ctx.notes:
                log(f"note: {note}")
            for name in names:
                log(f"{name}: {SCENARIOS[name].description}")
                outcome = await run_scenario(
                    SCENARIOS[name],
                    ctx,
                    rounds=args.rounds,
                    warmup=args.warmup,
                    timeout=args.timeout,
                    orm_available=ctx.orm_error,
                    log=(lambda _m: None) if args.quiet else log,
                )
                outcomes.append(outcome)
            meta = await environment(ctx, source)
        finally:
            await close_context(ctx)
    finally:
        if not args.keep_db:
            await drop_database(admin_url, db_name)

    meta |= {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "warmup": args.warmup,
        "quick": args.quick,
    }
    print()
    print(f"matrx-orm vs asyncpg - {args.rounds} rounds, medians per timed block (sizes: {meta['sizes']})")
    print(format_table(outcomes))
    if args.json:
        write_json(args.json, meta, outcomes)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
    sys.exit(asyncio.run(main(parse_args())))
