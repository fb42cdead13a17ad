"""matrx-orm vs raw asyncpg (and SQLAlchemy Core/ORM, Tortoise when installed), in the same run, on the same
server and rows.

    python benchmarks/run.py [--quick] [--only NAME ...] [--rounds N] [--json PATH] [--no-peers]

Not part of the test suite: it prints a table and never asserts. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import importlib.metadata
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType

from _harness import (
    BASELINE,
    SUBJECT,
    ScenarioResult,
    describe_error,
    format_contestants,
    format_table,
    run_scenario,
    write_json,
)
from _setup import (
    FULL,
    QUICK,
    Context,
    close_context,
    create_database,
    drop_database,
    environment,
    open_context,
    server_url,
)
from scenarios import SCENARIOS, Scenario

# peer libraries: ctx.peers key -> module (DISTRIBUTION, CONTESTANTS, PEERS, open_peer(ctx), close_peer(state))
PEER_MODULES = {"sqlalchemy": "peers_sqlalchemy", "tortoise": "peers_tortoise"}


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
        "--warmup", type=int, default=None, help="untimed warm-up runs per contestant (default 2, quick 1)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds before a timed block is abandoned"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results here")
    parser.add_argument(
        "--keep-db", action="store_true", help="do not drop the benchmark database afterwards"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-round progress lines")
    parser.add_argument(
        "--no-peers", action="store_true", help="only asyncpg and matrx-orm (no SQLAlchemy, no Tortoise)"
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def open_peers(ctx: Context) -> dict[str, ModuleType]:
    """Import and connect every peer library that is installed; the others are noted and left out."""
    opened: dict[str, ModuleType] = {}
    for key, module_name in PEER_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            ctx.notes.append(f"{key} contestants left out ({exc}; pip install -e '.[bench]')")
            continue
        try:
            ctx.peers[key] = await module.open_peer(ctx)
        except Exception as exc:
            for who in module.CONTESTANTS:
                ctx.unavailable[who] = f"{key} could not connect: {describe_error(exc)}"
        opened[key] = module
    return opened


async def close_peers(ctx: Context, modules: dict[str, ModuleType]) -> None:
    for key, module in modules.items():
        if key in ctx.peers:
            await module.close_peer(ctx.peers.pop(key))


def with_peers(scenario: Scenario, modules: dict[str, ModuleType]) -> Scenario:
    """The scenario with every peer contestant that has an entry for it."""
    for module in modules.values():
        scenario = scenario.with_peers(module.PEERS.get(scenario.name, {}))
    return scenario


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
        peers = {} if args.no_peers else await open_peers(ctx)
        if ctx.orm_error:
            ctx.unavailable[SUBJECT] = ctx.orm_error
        try:
            for note in ctx.notes:
                log(f"note: {note}")
            for name in names:
                scenario = with_peers(SCENARIOS[name], peers)
                log(f"{name}: {scenario.description}")
                outcome = await run_scenario(
                    scenario,
                    ctx,
                    rounds=args.rounds,
                    warmup=args.warmup,
                    timeout=args.timeout,
                    unavailable=ctx.unavailable,
                    log=(lambda _m: None) if args.quiet else log,
                )
                outcomes.append(outcome)
            meta = await environment(ctx, source)
            meta["peers"] = peer_versions(peers)
        finally:
            await close_peers(ctx, peers)
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
    print(
        f"every contestant - {args.rounds} rounds per contestant, interleaved; ms per timed block; "
        f"spread = (max - min) / median; x {BASELINE} = median / {BASELINE} median"
    )
    print(format_contestants(outcomes))
    print()
    print(f"targets: {SUBJECT} / {BASELINE} (both pools without a reset round trip; sizes: {meta['sizes']})")
    print(format_table(outcomes))
    if args.json:
        write_json(args.json, meta, outcomes)
        print(f"\nresults written to {args.json}")
    return 0


def peer_versions(modules: dict[str, ModuleType]) -> dict[str, str]:
    """Installed version of each peer library (its ``DISTRIBUTION``)."""
    versions: dict[str, str] = {}
    for key, module in modules.items():
        try:
            versions[key] = importlib.metadata.version(module.DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError:
            versions[key] = "unknown"
    return versions


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
    sys.exit(asyncio.run(main(parse_args())))
