"""TechEmpower-style web benchmark: requests/s of a Starlette app on one uvicorn worker, raw asyncpg handlers
against matrx-orm handlers (plain, pinned with ``matrx_orm.connection()``, behind ``PinConnectionMiddleware``).

    python benchmarks/techempower.py [--quick] [--duration S] [--rounds N] [--connections N] [--json PATH]

The app is ``techempower_app.py``; the load comes from this process: N keep-alive HTTP/1.1 connections
(default 64), each sending its next request when the previous answer is in, for a fixed time. Not part of
the test suite: it prints and never asserts. See benchmarks/README.md ("A service's request").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from _harness import render_table
from _setup import create_database, drop_database, server_url
from techempower_app import ADDED_FORTUNE, WORLD_ROWS

HERE = Path(__file__).resolve().parent
BASELINE = "raw-conn"
ORM_CONTESTANTS = ("orm", "orm-pinned", "orm-middleware")
TESTS = {"db": "/db", "queries": "/queries?q=20", "updates": "/updates?q=20", "fortunes": "/fortunes"}
TARGETS = {"db": 0.95, "queries": 0.90, "updates": 0.90, "fortunes": 0.95}  # ORM req/s / raw-conn req/s
FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
]


# -- database ---------------------------------------------------------------------------------------------------


async def seed(url: str) -> None:
    """``world`` (10,000 rows of random numbers 1..10,000) and ``fortune`` (TechEmpower's 12 messages)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL)")
        await conn.execute("CREATE TABLE fortune (id integer PRIMARY KEY, message text NOT NULL)")
        await conn.execute(
            "INSERT INTO world SELECT g, 1 + floor(random() * $1)::integer FROM generate_series(1, $1) AS g",
            WORLD_ROWS,
        )
        await conn.copy_records_to_table("fortune", records=list(enumerate(FORTUNES, start=1)))
        await conn.execute("VACUUM ANALYZE world")
        await conn.execute("VACUUM ANALYZE fortune")
    finally:
        await conn.close()


# -- the server ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """The uvicorn process serving the app on ``port``."""

    port: int
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the worker has used so far, from /proc (None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_server(url: str, pool_size: int) -> Server:
    """One uvicorn worker (uvloop and httptools when installed: uvicorn's ``auto``), access log off."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "techempower_app:create_app",
        "--app-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "MATRX_TE_URL": url, "MATRX_TE_POOL": str(pool_size)}
    return Server(port, subprocess.Popen(command, env=env, cwd=HERE))


async def wait_until_up(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.process.returncode}")
        try:
            status, _ = await get(server.port, "/status")
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the server did not answer on port {server.port} within {timeout:.0f} s")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# -- HTTP/1.1 client ------------------------------------------------------------------------------------------------


def request_bytes(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one response with a Content-Length (Starlette always sends one)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    start = head.lower().find(b"content-length:")
    length = int(head[start + 15 : head.index(b"\r\n", start)]) if start >= 0 else 0
    return status, await reader.readexactly(length)


async def get(port: int, path: str) -> tuple[int, bytes]:
    """One request on a fresh connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(path))
        return await read_response(reader)
    finally:
        writer.close()


@dataclass
class Load:
    """One timed load: responses received, how many were not 200, and the wall time."""

    responses: int = 0
    errors: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0  # CPU seconds this process (the load generator) used meanwhile
    server_cpu: float | None = None  # CPU seconds the server's worker used meanwhile
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.responses / self.seconds if self.seconds else 0.0

    @property
    def server_us_per_request(self) -> float | None:
        return (
            None if self.server_cpu is None or not self.responses else self.server_cpu / self.responses * 1e6
        )


async def _keep_sending(port: int, request: bytes, deadline: float, load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            status, body = await read_response(reader)
            load.responses += 1
            if status != 200:
                load.errors += 1
                load.first_error = load.first_error or f"HTTP {status}: {body[:200]!r}"
    finally:
        writer.close()


async def generate_load(server: Server, path: str, connections: int, seconds: float) -> Load:
    """``connections`` keep-alive connections sending ``path`` back to back for ``seconds``."""
    load = Load()
    request = request_bytes(path)
    server_cpu = server.cpu_seconds()
    started, cpu = time.perf_counter(), time.process_time()
    deadline = started + seconds
    await asyncio.gather(*(_keep_sending(server.port, request, deadline, load) for _ in range(connections)))
    load.seconds = time.perf_counter() - started
    load.client_cpu = time.process_time() - cpu
    server_cpu_after = server.cpu_seconds()
    if server_cpu is not None and server_cpu_after is not None:
        load.server_cpu = server_cpu_after - server_cpu
    return load


# -- checks -----------------------------------------------------------------------------------------------------------


async def check(port: int, url: str, contestant: str, test: str) -> str | None:
    """One request of ``test``, checked against TechEmpower's requirements; an error message or None."""
    status, body = await get(port, f"/{contestant}{TESTS[test]}")
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    if test == "fortunes":
        page = body.decode()
        if (
            page.count("<tr>") != len(FORTUNES) + 2
            or ADDED_FORTUNE not in page
            or "&lt;script&gt;" not in page
        ):
            return f"fortunes page without the 13 escaped rows: {page[:200]!r}"
        return None
    data = json.loads(body)
    rows = [data] if test == "db" else data
    if len(rows) != (1 if test == "db" else 20) or any(set(r) != {"id", "randomNumber"} for r in rows):
        return f"unexpected body {body[:200]!r}"
    if test == "updates":
        conn = await asyncpg.connect(url)
        try:
            stored = dict(
                await conn.fetch(
                    "SELECT id, randomnumber FROM world WHERE id = any($1)", [r["id"] for r in rows]
                )
            )
        finally:
            await conn.close()
        if any(stored[r["id"]] != r["randomNumber"] for r in rows):
            return "the updated numbers were not stored"
    return None


# -- the run ----------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    test: str
    contestant: str
    rps: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)  # the load generator's share of one core
    server_us: list[float] = field(default_factory=list)  # the server worker's CPU µs per request
    errors: int = 0
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.rps) if self.rps and self.error is None else None

    @property
    def median_server_us(self) -> float | None:
        return statistics.median(self.server_us) if self.server_us and self.error is None else None


async def run_test(
    server: Server,
    url: str,
    test: str,
    names: list[str],
    unavailable: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Result]:
    """Check, warm up, then ``args.rounds`` rounds of every contestant, order alternating between rounds."""
    results = {name: Result(test, name, error=unavailable.get(name)) for name in names}
    live = [name for name in names if results[name].error is None]
    for name in live:
        results[name].error = await check(server.port, url, name, test)
        if results[name].error is None and args.warmup > 0:
            await generate_load(server, f"/{name}{TESTS[test]}", args.connections, args.warmup)
    live = [name for name in live if results[name].error is None]
    for round_no in range(args.rounds):
        line = []
        for name in live if round_no % 2 == 0 else live[::-1]:
            load = await generate_load(server, f"/{name}{TESTS[test]}", args.connections, args.duration)
            results[name].rps.append(load.rps)
            results[name].client_cpu.append(load.client_cpu / load.seconds)
            if load.server_us_per_request is not None:
                results[name].server_us.append(load.server_us_per_request)
            results[name].errors += load.errors
            if load.first_error and results[name].errors == load.errors:
                log(f"  {test} {name}: {load.errors} failed responses, first: {load.first_error}")
            line.append(f"{name} {load.rps:,.0f}/s")
        log(f"  {test} round {round_no + 1}/{args.rounds}: " + " | ".join(line))
    return results


def ratio(results: dict[str, Result], name: str) -> float | None:
    """Median requests/s over the baseline's (higher is better)."""
    base, mine = results[BASELINE].median, results[name].median
    return None if base is None or mine is None or base <= 0 else mine / base


def cpu_ratio(results: dict[str, Result], name: str) -> float | None:
    """The baseline's server CPU per request over this contestant's: the requests/s ratio a CPU-bound worker
    would reach. Much steadier than requests/s when other processes share the machine."""
    base, mine = results[BASELINE].median_server_us, results[name].median_server_us
    return None if base is None or mine is None or mine <= 0 else base / mine


def format_results(all_results: dict[str, dict[str, Result]]) -> str:
    header = [
        "test",
        "contestant",
        "median req/s",
        "min",
        "max",
        "spread",
        "failed",
        "client CPU",
        "server us/req",
        f"x {BASELINE}",
        "target",
        "ok?",
        f"x {BASELINE} by CPU",
    ]
    rows = []
    for test, results in all_results.items():
        for i, (name, res) in enumerate(results.items()):
            r, by_cpu = ratio(results, name), cpu_ratio(results, name)
            target = TARGETS[test] if name in ORM_CONTESTANTS else None
            spread = (max(res.rps) - min(res.rps)) / res.median if res.median else None
            rows.append(
                [
                    f"/{test}" if i == 0 else "",
                    name,
                    "-" if res.median is None else f"{res.median:,.0f}",
                    f"{min(res.rps):,.0f}" if res.rps else "-",
                    f"{max(res.rps):,.0f}" if res.rps else "-",
                    "-" if spread is None else f"{spread * 100:.0f}%",
                    str(res.errors),
                    f"{statistics.median(res.client_cpu) * 100:.0f}%" if res.client_cpu else "-",
                    "-" if res.median_server_us is None else f"{res.median_server_us:.0f}",
                    "unavailable" if res.error else ("-" if r is None else f"{r:.2f}x"),
                    "" if target is None else f">= {target:.2f}x",
                    "" if target is None or r is None else ("yes" if r >= target else "NO"),
                    "-" if by_cpu is None else f"{by_cpu:.2f}x",
                ]
            )
    text = render_table(header, rows)
    notes = {
        res.contestant: res.error for results in all_results.values() for res in results.values() if res.error
    }
    if notes:
        text += "\n\nNot measured:\n" + "\n".join(f"  - {name}: {why}" for name, why in notes.items())
    return text


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def main(args: argparse.Namespace) -> int:
    admin_url, source = server_url()
    db_name = f"matrx_te_{os.getpid()}"
    url = await create_database(admin_url, db_name)
    log(f"server: {source}; database {db_name}")
    all_results: dict[str, dict[str, Result]] = {}
    try:
        await seed(url)
        server = start_server(url, args.pool_size)
        try:
            await wait_until_up(server)
            status = json.loads((await get(server.port, "/status"))[1])
            names = [n for n in status["descriptions"] if not args.only or n in args.only or n == BASELINE]
            for name in names:
                log(f"{name}: {status['descriptions'][name]}")
            for test in args.tests:
                log(f"/{test}: {args.rounds} rounds of {args.duration:g} s, {args.connections} connections")
                all_results[test] = await run_test(server, url, test, names, status["unavailable"], args)
        finally:
            stop_server(server)
    finally:
        await drop_database(admin_url, db_name)

    print()
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(
        f"TechEmpower-style tests: one uvicorn worker, pools of {args.pool_size}, {args.connections} keep-alive "
        f"connections, median requests/s of {args.rounds} rounds of {args.duration:g} s "
        f"(x {BASELINE}: median / the raw handler holding one connection; client CPU: the load generator's "
        f"share of one core, {loop} loop; server us/req: the worker's CPU per request, median; x {BASELINE} by "
        "CPU: its server us/req over this one's)"
    )
    print(format_results(all_results))
    if args.json:
        write_json(args, source, all_results)
        print(f"\nresults written to {args.json}")
    return 0


def write_json(args: argparse.Namespace, source: str, all_results: dict[str, dict[str, Result]]) -> None:
    meta = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "server": source,
        "cpus": os.cpu_count(),
        **{k: getattr(args, k) for k in ("duration", "warmup", "rounds", "connections", "pool_size")},
    }
    tests = {
        test: {
            name: {
                "rps": r.rps,
                "median_rps": r.median,
                "client_cpu": r.client_cpu,
                "server_us_per_request": r.server_us,
                "cpu_ratio": cpu_ratio(results, name),
                "failed": r.errors,
                "error": r.error,
                "ratio": ratio(results, name),
            }
            for name, r in results.items()
        }
        for test, results in all_results.items()
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "tests": tests}, indent=2) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round of 1 s per contestant and test (a smoke run)"
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds of load per round (default 4)")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds of untimed load first (default 2)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per contestant (default 5)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections (64)")
    parser.add_argument("--pool-size", type=int, default=8, help="connections per pool (8)")
    parser.add_argument(
        "--test", dest="tests", action="append", choices=list(TESTS), help="repeatable; default all"
    )
    parser.add_argument(
        "--only", action="append", metavar="CONTESTANT", help="repeatable; raw-conn always runs"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    args.tests = args.tests or list(TESTS)
    args.duration = args.duration or (1.0 if args.quick else 4.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    args.rounds = args.rounds or (1 if args.quick else 5)
    return args


def event_loop_runner() -> Any:
    """uvloop's ``run`` when installed (a cheaper load generator), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
    run = event_loop_runner()
    sys.exit(run(main(parse_args())))
