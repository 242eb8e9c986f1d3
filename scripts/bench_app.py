"""Benchmark the payment API on loopback: GET /payments/{id} latency and throughput.

Starts its own PostgreSQL, Redis and moto servers on 127.0.0.1 (like tests/app), runs the API
in a uvicorn subprocess, and drives it with a bounded keep-alive HTTP/1.1 load generator.
Every phase is capped in request count and wall time; traffic never leaves loopback.

The identities are those of the deployment, with passwords standing in for IAM tokens: the API
migrates at start as the master user (its login in moto Secrets Manager) and serves as the
`payment_app` role the migrations create; Redis serves the `payment-app` ACL user.

    python scripts/bench_app.py [--requests 3000] [--concurrency 10] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import boto3  # type: ignore[import-untyped]
import redis

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "app"
ADMIN_USER, ADMIN_PASSWORD = "payments_admin", "bench-only-admin-password"  # superuser: setup
MASTER_USER, MASTER_PASSWORD = "payments_master", "bench-only-master-password"  # as on RDS
APP_USER, APP_PASSWORD = "payment_app", "bench-only-app-password"  # stands in for IAM
REDIS_ADMIN_PASSWORD = "bench-only-redis-admin"  # the default user: flushing between phases
REDIS_APP_USER, REDIS_APP_PASSWORD = "payment-app", "bench-only-redis-app"
# The same rules as payment_platform.cache.APP_ACCESS_STRING (tests/app runs the service under
# exactly that string); not imported, so the benchmark needs app/requirements-test.txt only.
REDIS_APP_ACCESS_STRING = "on ~payment:* -@all +get +set +del +ping"
REGION = "eu-west-1"
HOST = "127.0.0.1"


def free_port() -> int:
    """A port the OS just handed out, so parallel runs do not collide."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Block until a server accepts connections; a server that never does ends the run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def as_postgres() -> dict[str, Any]:
    """PostgreSQL refuses root: run it as the postgres user itself so signals reach it."""
    if os.geteuid() == 0:
        return {"user": "postgres", "group": "postgres", "extra_groups": [], "cwd": "/"}
    return {}


def _postgres_bin_dir() -> str:
    """The newest installed PostgreSQL's bin directory; refuses early without Redis as well."""
    pg_bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not pg_bins or not shutil.which("redis-server"):
        raise SystemExit("postgres/redis-server missing: run scripts/install-services.sh")
    return os.path.dirname(pg_bins[-1])


def _make_workdir() -> Path:
    """A scratch directory (with the password file) the postgres user can write."""
    workdir = Path(tempfile.mkdtemp(prefix="pay-bench-"))
    (workdir / "pw").write_text(ADMIN_PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
        shutil.chown(workdir / "pw", "postgres", "postgres")
    return workdir


def _init_postgres(bin_dir: str, workdir: Path) -> None:
    subprocess.run(
        [
            f"{bin_dir}/initdb",
            "-D",
            str(workdir / "data"),
            "-U",
            ADMIN_USER,
            f"--pwfile={workdir / 'pw'}",
            "--auth=scram-sha-256",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        **as_postgres(),
    )


def _start_postgres(bin_dir: str, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """Durability off: the benchmark measures the API, not the disk."""
    return subprocess.Popen(
        [
            f"{bin_dir}/postgres",
            "-D",
            str(workdir / "data"),
            "-p",
            str(port),
            "-k",
            str(workdir),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **as_postgres(),
    )


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            HOST,
            "--requirepass",
            REDIS_ADMIN_PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _psql(bin_dir: str, port: int, sql: str, database: str = "postgres") -> bool:
    """Run SQL as the superuser; False while the server does not accept connections yet."""
    done = subprocess.run(
        [
            *(f"{bin_dir}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"),
            *("-h", HOST, "-p", str(port), "-U", ADMIN_USER, "-d", database, "-c", sql),
        ],
        env={**os.environ, "PGPASSWORD": ADMIN_PASSWORD},
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _create_database(bin_dir: str, port: int) -> None:
    """The master user (not a superuser, as on RDS) and its database.

    Retried while the port is open but PostgreSQL does not accept connections yet.
    """
    for _ in range(100):
        if _psql(bin_dir, port, "SELECT 1"):
            break
        time.sleep(0.1)
    setup = (
        f"CREATE ROLE {MASTER_USER} LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PASSWORD}'",
        f"CREATE DATABASE payments OWNER {MASTER_USER}",
    )
    for sql in setup:
        if not _psql(bin_dir, port, sql):
            raise SystemExit(f"PostgreSQL setup failed: {sql.split(' PASSWORD')[0]}")


def _create_redis_user(port: int) -> None:
    with redis.Redis(host=HOST, port=port, password=REDIS_ADMIN_PASSWORD) as admin:
        admin.execute_command(
            "ACL",
            "SETUSER",
            REDIS_APP_USER,
            "reset",
            *REDIS_APP_ACCESS_STRING.split(),
            f">{REDIS_APP_PASSWORD}",
        )


def _create_master_secret(endpoint: str) -> str:
    """The RDS-managed master secret's shape: SecretString JSON with username and password."""
    secrets = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    secret = json.dumps({"username": MASTER_USER, "password": MASTER_PASSWORD})
    return str(secrets.create_secret(Name="rds!bench", SecretString=secret)["ARN"])


def _create_queue(endpoint: str) -> str:
    sqs = boto3.client(
        "sqs",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    return str(sqs.create_queue(QueueName="payments-bench")["QueueUrl"])


def _api_env(
    queue_url: str, secret_arn: str, endpoint: str, pg_port: int, redis_port: int
) -> dict[str, str]:
    """The API's environment as on ECS (migrations at start), password auth instead of IAM."""
    return {
        "PAYMENT_QUEUE_URL": queue_url,
        "DB_HOST": HOST,
        "DB_PORT": str(pg_port),
        "DB_NAME": "payments",
        "DB_SSLMODE": "disable",
        "DB_USER": APP_USER,
        "DB_AUTH": "password",
        "DB_PASSWORD": APP_PASSWORD,
        "RUN_MIGRATIONS": "true",
        "DB_MIGRATION_SECRET_ARN": secret_arn,
        "REDIS_HOST": HOST,
        "REDIS_PORT": str(redis_port),
        "REDIS_TLS": "false",
        "REDIS_AUTH": "password",
        "REDIS_USER": REDIS_APP_USER,
        "REDIS_PASSWORD": REDIS_APP_PASSWORD,
        "CACHE_TTL_SECONDS": "300",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "ENVIRONMENT": "bench",
        "LOG_LEVEL": "INFO",
        "DB_POOL_MAX": "20",
    }


def _stop(procs: list[tuple[subprocess.Popen[bytes], int]]) -> None:
    """Signal every server first, then wait, so they shut down in parallel."""
    for proc, sig in procs:
        proc.send_signal(sig)
    for proc, _ in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass(frozen=True)
class Servers:
    """What the running servers hand on: the API's environment and the PostgreSQL tools."""

    env: dict[str, str]
    pg_bin_dir: str


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """Start PostgreSQL, Redis and moto; yield the API's environment; stop them all after."""
    bin_dir = _postgres_bin_dir()
    from moto.server import ThreadedMotoServer

    workdir = _make_workdir()
    procs: list[tuple[subprocess.Popen[bytes], int]] = []
    moto = None
    try:
        _init_postgres(bin_dir, workdir)
        pg_port, redis_port, moto_port = free_port(), free_port(), free_port()
        procs.append((_start_postgres(bin_dir, workdir, pg_port), signal.SIGINT))
        procs.append((_start_redis(redis_port), signal.SIGTERM))
        moto = ThreadedMotoServer(ip_address=HOST, port=moto_port, verbose=False)
        moto.start()
        wait_port(pg_port)
        wait_port(redis_port)
        _create_database(bin_dir, pg_port)
        _create_redis_user(redis_port)
        endpoint = f"http://{HOST}:{moto_port}"
        secret_arn = _create_master_secret(endpoint)
        env = _api_env(_create_queue(endpoint), secret_arn, endpoint, pg_port, redis_port)
        yield Servers(env, bin_dir)
    finally:
        if moto is not None:
            moto.stop()
        _stop(procs)
        shutil.rmtree(workdir, ignore_errors=True)


API_SERVER = """
import uvicorn
from payment_app.api import create_app
from payment_app.config import load_settings
from payment_app.logs import configure_logging
s = load_settings(role="api")
configure_logging(s.log_level, "payment-api", s.environment)
uvicorn.run(create_app(s), host="127.0.0.1", port={port}, log_config=None, access_log=False)
"""


@contextlib.contextmanager
def api_server(running: Servers) -> Iterator[int]:
    """The real app under uvicorn in its own process, so client and server do not share a GIL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", API_SERVER.replace("{port}", str(port))],
        env={**os.environ, **running.env, "PYTHONPATH": str(APP_DIR)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)  # uvicorn listens once the lifespan (the migrations) has finished
        # The migrations created payment_app without a password (IAM on Aurora); give it one.
        sql = f"ALTER ROLE {APP_USER} PASSWORD '{APP_PASSWORD}'"
        if not _psql(running.pg_bin_dir, int(running.env["DB_PORT"]), sql):
            raise SystemExit("could not set the application role's password")
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Result:
    """One phase's raw measurements; summarised only when printed."""

    name: str
    concurrency: int
    latencies: list[float]
    errors: int
    elapsed: float
    cache_hits: int

    def row(self) -> list[str]:
        """The phase as table cells: p50/p99 latency, throughput, cache-hit share, errors."""
        lat = sorted(self.latencies) or [0.0]
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        rps = len(self.latencies) / self.elapsed if self.elapsed else 0.0
        hit = 100.0 * self.cache_hits / max(1, len(self.latencies))
        return [
            self.name,
            str(self.concurrency),
            str(len(self.latencies)),
            f"{p50:.2f}",
            f"{p99:.2f}",
            f"{rps:.0f}",
            f"{hit:.0f}%",
            str(self.errors),
        ]


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bool]:
    """Minimal HTTP/1.1 keep-alive exchange (cheap, so the client does not dominate timing)."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    hit = False
    for line in head.split(b"\r\n"):
        lower = line.lower()
        if lower.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
        elif lower.startswith(b"x-cache:"):
            hit = b"hit" in lower
    await reader.readexactly(length)
    return status, hit


async def run_phase(
    name: str, port: int, paths: list[str], concurrency: int, max_requests: int, max_seconds: float
) -> Result:
    """GET each path once from concurrency keep-alive connections, within both caps."""
    latencies: list[float] = []
    errors = hits = 0
    queue = iter(paths[:max_requests])
    deadline = time.monotonic() + max_seconds

    async def user() -> None:
        nonlocal errors, hits
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for path in queue:
                if time.monotonic() > deadline:
                    return
                raw = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
                started = time.perf_counter()
                try:
                    status, hit = await _request(reader, writer, raw)
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                latencies.append(time.perf_counter() - started)
                hits += hit
                errors += status != 200
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return Result(name, concurrency, latencies, errors, time.perf_counter() - started, hits)


async def seed(env: dict[str, str], count: int) -> list[str]:
    """Insert payments directly, as the superuser (the benchmark is about reads); their ids."""
    conn = await asyncpg.connect(
        host=HOST,
        port=int(env["DB_PORT"]),
        user=ADMIN_USER,
        password=ADMIN_PASSWORD,
        database="payments",
    )
    try:
        rows = [
            (
                f"bench-{uuid.uuid4().hex}",
                "0" * 64,
                "merchant_bench",
                1000 + i,
                "EUR",
                f"tok_bench{i:06d}",
                "succeeded" if i % 2 else "pending",
            )
            for i in range(count)
        ]
        await conn.executemany(
            "INSERT INTO payments (idempotency_key, request_hash, merchant_id, amount, currency,"
            " payment_method_token, status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            rows,
        )
        return [str(r["id"]) for r in await conn.fetch("SELECT id FROM payments")]
    finally:
        await conn.close()


def print_table(results: list[Result]) -> None:
    """Print an aligned table, so runs can be compared by eye."""
    header = ["phase", "conc", "requests", "p50 ms", "p99 ms", "req/s", "cache hit", "errors"]
    rows = [header] + [r.row() for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    line = "+".join("-" * (w + 2) for w in widths)
    print(line)
    for index, row in enumerate(rows):
        print(" | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
        if index == 0:
            print(line)
    print(line)


async def bench(args: argparse.Namespace, env: dict[str, str], port: int) -> list[Result]:
    """Seed, warm the cache, then measure warm, cold and high-concurrency reads."""
    ids = await seed(env, args.requests)
    flush = redis.Redis(host=HOST, port=int(env["REDIS_PORT"]), password=REDIS_ADMIN_PASSWORD)
    warm_ids = ids[: min(len(ids), 500)]
    base, high = args.concurrency, args.concurrency * 10
    paths = [f"/payments/{i}" for i in warm_ids]
    await run_phase("warm-up", port, paths, base, len(paths), args.seconds)  # fill the cache
    random.seed(7)
    warm_paths = [random.choice(paths) for _ in range(args.requests)]
    results = [
        await run_phase("GET warm cache", port, warm_paths, base, args.requests, args.seconds)
    ]
    flush.flushdb()
    cold_paths = [f"/payments/{i}" for i in ids]  # each id once after a flush: all misses
    results.append(
        await run_phase("GET cold cache", port, cold_paths, base, args.requests, args.seconds)
    )
    results.append(
        await run_phase("GET throughput", port, warm_paths, base, args.requests, args.seconds)
    )
    results.append(
        await run_phase(
            "GET throughput 10x", port, warm_paths * 2, high, args.requests * 2, args.seconds
        )
    )
    flush.close()
    return results


def main() -> int:
    """Run every phase; exit 1 when warm p99 misses 50 ms or any request failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per phase (max)")
    parser.add_argument("--concurrency", type=int, default=10, help="baseline concurrency")
    parser.add_argument("--seconds", type=float, default=15.0, help="time cap per phase")
    args = parser.parse_args()
    args.requests = max(100, min(args.requests, 20_000))
    args.concurrency = max(1, min(args.concurrency, 50))
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    with servers() as running, api_server(running) as port:
        print(
            f"API on {HOST}:{port}; {args.requests} requests/phase, "
            f"baseline concurrency {args.concurrency}, 10x = {args.concurrency * 10}"
        )
        results = asyncio.run(bench(args, running.env, port))
    print_table(results)
    warm = results[0].row()
    errors = sum(r.errors for r in results)
    ok = float(warm[4]) < 50.0 and errors == 0
    print(
        f"target p99 < 50 ms warm: {'PASS' if float(warm[4]) < 50.0 else 'FAIL'} "
        f"({warm[4]} ms); errors: {errors}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
