"""Real PostgreSQL, Redis and moto servers on loopback, started once per test session."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import glob
import inspect
import io
import ipaddress
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import boto3  # type: ignore[import-untyped]
import httpx
import pytest
import pytest_asyncio
import redis
import redis.asyncio as aioredis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI
from payment_app import cache, db, merchants, migrate
from payment_app.api import create_app
from payment_app.aws import client as aws_client
from payment_app.config import Settings, load_settings
from payment_app.logs import CardDataFilter, JsonFormatter
from payment_app.models import Payment
from payment_app.processor import ProcessorResult, SimulatedAcquirer
from payment_app.worker import PaymentWorker

from payment_platform.cache import APP_ACCESS_STRING

# Three PostgreSQL identities, as on Aurora:
# - the cluster superuser, which RDS keeps to itself: here only the harness uses it (setup,
#   inspecting the catalog, changing passwords as RDS rotation and IAM would);
ADMIN_USER = "payments_admin"
ADMIN_PASSWORD = "test-only-admin-password"
# - the RDS master user: CREATEROLE and CREATEDB, owns the database, not a superuser; its login
#   is the migration secret, stored in moto Secrets Manager;
MASTER_USER = "payments_master"
MASTER_PASSWORD = "test-only-master-password"
# - the application role the migrations create; the password stands in for IAM (vanilla
#   PostgreSQL has no rds_iam), set by the harness after the first migration.
APP_USER = "payment_app"
APP_PASSWORD = "test-only-app-password"
# Redis: the default user (requirepass) is the harness's admin; the service is an ACL user with
# exactly the infrastructure's access string.
REDIS_ADMIN_PASSWORD = "test-only-redis-admin"
REDIS_APP_USER = "payment-app"
REDIS_APP_PASSWORD = "test-only-redis-app"
REGION = "eu-west-1"
# A second loopback address the servers also listen on, deliberately absent from the server
# certificate (which names only 127.0.0.1 and localhost): verify-full against it must fail.
UNCERTIFIED_HOST = "127.0.0.2"


def _letters(n: int) -> str:
    """Random token body without digits: a random digit run could pass Luhn and be rejected."""
    return uuid.uuid4().hex[:n].translate(str.maketrans("0123456789", "ghijklmnop"))


_PORT_FLOOR = 10000
_PORT_SLICE = 2000
_handed_out: set[int] = set()


def _listening_ports() -> range:
    """This process's own slice of ports for servers, below the kernel's ephemeral range.

    Below it, no outgoing connection can take a port between this check and the server's bind;
    a slice per xdist worker (gw0, gw1, ...) keeps workers' servers apart. A bind(0) port would
    be ephemeral: fine for one process, racy with two workers connecting all the time.
    """
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    slices = max(1, (ephemeral - _PORT_FLOOR) // _PORT_SLICE)
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    start = _PORT_FLOOR + (worker % slices) * _PORT_SLICE
    return range(start, start + _PORT_SLICE)


def free_port() -> int:
    """A loopback port nothing listens on, never handed out twice in this process."""
    for port in random.sample(_listening_ports(), k=_PORT_SLICE):
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port left in this worker's slice")


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not come up in {timeout}s")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class TlsMaterial:
    """Throwaway PKI for the test servers; nothing here is trusted outside this session."""

    directory: Path
    ca_cert: Path  # signed the server certificate
    other_ca_cert: Path  # an unrelated CA with the same subject: must not verify the server
    server_cert: Path  # SAN: DNS localhost, IP 127.0.0.1 (not UNCERTIFIED_HOST)
    server_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # P-256: fast, accepted by PG and Redis


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


@pytest.fixture(scope="session")
def tls_material() -> Iterator[TlsMaterial]:
    """CA + server certificate for 127.0.0.1/localhost, plus an unrelated CA, in a directory the
    postgres OS user can read; the key is 0600 and owned by postgres (PostgreSQL insists)."""
    directory = Path(tempfile.mkdtemp(prefix="pay-tls-"))
    directory.chmod(0o755)
    ca_key, ca_cert = _ca("payment-app test CA")
    _, other_ca_cert = _ca("payment-app test CA")  # same name, different key: only the key counts
    server_key, server_cert = _server_cert(ca_key, ca_cert)
    material = TlsMaterial(
        directory,
        directory / "ca.pem",
        directory / "other-ca.pem",
        directory / "server.crt",
        directory / "server.key",
    )
    _write_cert(material.ca_cert, ca_cert)
    _write_cert(material.other_ca_cert, other_ca_cert)
    _write_cert(material.server_cert, server_cert)
    fd = os.open(material.server_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    if os.geteuid() == 0:  # postgres runs as the postgres user; root (redis) can still read it
        shutil.chown(material.server_key, "postgres", "postgres")
    try:
        yield material
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class Identities:
    """Who is who in the test servers, for tests that act as someone other than the service."""

    admin_user: str = ADMIN_USER
    admin_password: str = ADMIN_PASSWORD
    master_user: str = MASTER_USER
    master_password: str = MASTER_PASSWORD
    app_user: str = APP_USER
    app_password: str = APP_PASSWORD
    redis_admin_password: str = REDIS_ADMIN_PASSWORD
    redis_app_user: str = REDIS_APP_USER
    redis_app_password: str = REDIS_APP_PASSWORD
    redis_access_string: str = APP_ACCESS_STRING


@pytest.fixture(scope="session")
def identities() -> Identities:
    return Identities()


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    bin_dir: str

    def _admin_env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": ADMIN_PASSWORD}

    def psql(self, sql: str, database: str = "postgres") -> None:
        """Run SQL as the superuser (setup only: the service never connects like this)."""
        subprocess.run(
            [
                f"{self.bin_dir}/psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                ADMIN_USER,
                "-d",
                database,
                "-c",
                sql,
            ],
            check=True,
            env=self._admin_env(),
            capture_output=True,
        )

    def create_database(self, name: str, owner: str = MASTER_USER) -> None:
        """As on RDS, a database the master user owns (so it may hand its schema over)."""
        subprocess.run(
            [
                f"{self.bin_dir}/createdb",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                ADMIN_USER,
                "-O",
                owner,
                name,
            ],
            check=True,
            env=self._admin_env(),
            capture_output=True,
        )

    async def admin_connect(self, database: str = "payments") -> Any:
        return await asyncpg.connect(
            host=self.host,
            port=self.port,
            user=ADMIN_USER,
            password=ADMIN_PASSWORD,
            database=database,
        )


# rds_iam: a stand-in for Aurora's role, so the migrations take the branch that grants it; the
# master holds it WITH ADMIN OPTION as Aurora's master does (through rds_superuser).
_CLUSTER_SETUP = f"""
CREATE ROLE {MASTER_USER} LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PASSWORD}';
CREATE ROLE rds_iam NOLOGIN;
GRANT rds_iam TO {MASTER_USER} WITH ADMIN OPTION;
"""


def _postgres_bin_dir() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return os.path.dirname(candidates[-1]) if candidates else None


def _as_postgres_user() -> dict[str, Any]:
    """initdb/postgres refuse to run as root: run them directly as the postgres OS user (no
    runuser wrapper, so signals reach the server itself and shutdown is immediate)."""
    if os.geteuid() == 0:
        return {"user": "postgres", "group": "postgres", "extra_groups": [], "cwd": "/"}
    return {}


@pytest.fixture(scope="session")
def postgres_server(tls_material: TlsMaterial) -> Iterator[PostgresServer]:
    """One server for every test: ssl=on accepts TLS and plain connections side by side (the
    default tests use DB_SSLMODE=disable; test_tls.py uses verify-full)."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found; run scripts/install-services.sh")
    workdir = Path(tempfile.mkdtemp(prefix="pay-pg-"))
    data, pwfile = workdir / "data", workdir / "pw"
    pwfile.write_text(ADMIN_PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        [
            f"{bin_dir}/initdb",
            "-D",
            str(data),
            "-U",
            ADMIN_USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        **_as_postgres_user(),
    )
    # initdb's "host ... 127.0.0.1/32" line covers the default address; the uncertified one
    # admits TLS only (the handshake, and so verify-full, happens before this is consulted).
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"hostssl all all {UNCERTIFIED_HOST}/32 scram-sha-256\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            f"{bin_dir}/postgres",
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(workdir),
            "-c",
            f"listen_addresses=127.0.0.1,{UNCERTIFIED_HOST}",
            "-c",
            "ssl=on",
            "-c",
            f"ssl_cert_file={tls_material.server_cert}",
            "-c",
            f"ssl_key_file={tls_material.server_key}",
            "-c",
            "ssl_min_protocol_version=TLSv1.2",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **_as_postgres_user(),
    )
    try:
        wait_for_port(port, proc)
        server = PostgresServer("127.0.0.1", port, bin_dir)
        for _ in range(100):  # the port opens slightly before connections are accepted
            try:
                server.psql("SELECT 1")
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        server.psql(_CLUSTER_SETUP)
        server.create_database("payments")
        yield server
    finally:
        stop(proc, signal.SIGINT)  # "fast" shutdown: do not wait for clients to disconnect
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int


def create_redis_app_user(admin: redis.Redis) -> None:
    """The service's ACL user: exactly the infrastructure's access string, plus a password."""
    admin.execute_command(  # type: ignore[no-untyped-call]
        "ACL",
        "SETUSER",
        REDIS_APP_USER,
        "reset",
        *APP_ACCESS_STRING.split(),
        f">{REDIS_APP_PASSWORD}",
    )


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not found; run scripts/install-services.sh")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            REDIS_ADMIN_PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        with redis.Redis(host="127.0.0.1", port=port, password=REDIS_ADMIN_PASSWORD) as admin:
            create_redis_app_user(admin)
        yield RedisServer("127.0.0.1", port)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def uncertified_host() -> str:
    return UNCERTIFIED_HOST


@pytest.fixture(scope="session")
def redis_tls_server(tls_material: TlsMaterial) -> Iterator[RedisServer]:
    """A second Redis that speaks TLS only (--port 0), like ElastiCache with in-transit
    encryption; no client certificates, the same admin and ACL user as on the plain one."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not found; run scripts/install-services.sh")
    port = free_port()
    log_path = tls_material.directory / "redis-tls.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                "0",
                "--tls-port",
                str(port),
                "--tls-cert-file",
                str(tls_material.server_cert),
                "--tls-key-file",
                str(tls_material.server_key),
                "--tls-ca-cert-file",
                str(tls_material.ca_cert),
                "--tls-auth-clients",
                "no",
                "--bind",
                "127.0.0.1",
                UNCERTIFIED_HOST,
                "--requirepass",
                REDIS_ADMIN_PASSWORD,
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port(port, proc)
        except RuntimeError as exc:
            output = log_path.read_text(errors="replace")
            last = next((ln.strip() for ln in reversed(output.splitlines()) if ln.strip()), "")
            # A build without TLS rejects the tls-* options themselves ("Bad directive ...");
            # any other failure (bad certificate, port clash) is an error, not a skip.
            if proc.poll() is not None and re.search(r"bad directive|not supported", output, re.I):
                pytest.skip(f"redis-server was built without TLS support ({last})")
            raise RuntimeError(f"{exc}; redis-server said: {last}") from exc
        admin = redis.Redis(
            host="127.0.0.1",
            port=port,
            password=REDIS_ADMIN_PASSWORD,
            ssl=True,
            ssl_ca_certs=str(tls_material.ca_cert),
        )
        with admin:
            create_redis_app_user(admin)
        yield RedisServer("127.0.0.1", port)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        pytest.skip("moto[server] not installed; pip install -r app/requirements-test.txt")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass(frozen=True)
class AwsResources:
    endpoint: str
    topic_arn: str
    bucket: str
    events_queue_url: str
    master_secret_arn: str  # as RDS manages it: SecretString JSON {"username", "password"}
    idempotency_secret_arn: str  # the HMAC key idempotency keys are stored under


@pytest.fixture(scope="session")
def aws_resources(moto_endpoint: str) -> AwsResources:
    sns, sqs, s3 = (aws(moto_endpoint, s) for s in ("sns", "sqs", "s3"))
    master_secret_arn = aws(moto_endpoint, "secretsmanager").create_secret(
        Name="rds!cluster-payments-test",
        SecretString=json.dumps({"username": MASTER_USER, "password": MASTER_PASSWORD}),
    )["ARN"]
    idempotency_secret_arn = aws(moto_endpoint, "secretsmanager").create_secret(
        Name="payment-idempotency-test", SecretString=secrets.token_hex(32)
    )["ARN"]
    topic_arn = sns.create_topic(Name="payment-events")["TopicArn"]
    bucket = "payment-transaction-log"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    events_url = sqs.create_queue(QueueName="payment-events-subscriber")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=events_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return AwsResources(
        moto_endpoint, topic_arn, bucket, events_url, master_secret_arn, idempotency_secret_arn
    )


@dataclass(frozen=True)
class Queues:
    url: str
    dlq_url: str


def make_queues(endpoint: str, visibility_timeout: int = 30, max_receive: int = 3) -> Queues:
    """A payment queue with a redrive policy to its own DLQ, as the infrastructure creates it."""
    sqs = aws(endpoint, "sqs")
    suffix = uuid.uuid4().hex[:10]
    dlq_url = sqs.create_queue(QueueName=f"payments-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=f"payments-{suffix}",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}
            ),
        },
    )["QueueUrl"]
    return Queues(url, dlq_url)


def base_env(
    pg: PostgresServer, rd: RedisServer, res: AwsResources, queues: Queues
) -> dict[str, str]:
    """The ECS environment pointed at loopback, with password auth standing in for IAM (which
    vanilla PostgreSQL and Redis cannot do) but the same least-privilege identities."""
    return {
        "PAYMENT_QUEUE_URL": queues.url,
        "PAYMENT_DLQ_URL": queues.dlq_url,
        "IDEMPOTENCY_SECRET_ARN": res.idempotency_secret_arn,
        "EVENTS_TOPIC_ARN": res.topic_arn,
        "TRANSACTION_LOG_BUCKET": res.bucket,
        "DB_HOST": pg.host,
        "DB_PORT": str(pg.port),
        "DB_NAME": "payments",
        "DB_SSLMODE": "disable",
        "DB_USER": APP_USER,
        "DB_AUTH": "password",
        "DB_PASSWORD": APP_PASSWORD,
        "DB_MIGRATION_SECRET_ARN": res.master_secret_arn,
        "REDIS_HOST": rd.host,
        "REDIS_PORT": str(rd.port),
        "REDIS_TLS": "false",
        "REDIS_AUTH": "password",
        "REDIS_USER": REDIS_APP_USER,
        "REDIS_PASSWORD": REDIS_APP_PASSWORD,
        "CACHE_TTL_SECONDS": "60",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": res.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "RUN_MIGRATIONS": "false",
        "WORKER_WAIT_SECONDS": "1",
        "WORKER_RETRY_BASE_MS": "10",
    }


@pytest.fixture(scope="session")
def session_queues(aws_resources: AwsResources) -> Queues:
    return make_queues(aws_resources.endpoint)


@pytest.fixture(scope="session")
def env(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    aws_resources: AwsResources,
    session_queues: Queues,
) -> dict[str, str]:
    return base_env(postgres_server, redis_server, aws_resources, session_queues)


@pytest.fixture(scope="session")
def base_settings(env: dict[str, str], postgres_server: PostgresServer) -> Settings:
    """Migrated with the master secret from moto; the application role it created then gets the
    password that stands in for its IAM token."""
    settings = load_settings(env, role="worker")
    migrate.upgrade(settings)
    postgres_server.psql(f"ALTER ROLE {APP_USER} PASSWORD '{APP_PASSWORD}'")
    return settings


@pytest.fixture
def queues(aws_resources: AwsResources) -> Queues:
    """A fresh queue per test so message counts are not shared between tests."""
    return make_queues(aws_resources.endpoint)


@pytest.fixture
def settings(base_settings: Settings, queues: Queues) -> Settings:
    return replace(base_settings, payment_queue_url=queues.url, payment_dlq_url=queues.dlq_url)


class Kit:
    """Helpers handed to tests as a fixture (no cross-module imports, any import mode works)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.free_port = free_port
        self.wait_for_port = wait_for_port

    def aws(self, service: str) -> Any:
        return aws(self.endpoint, service)

    def make_queues(self, visibility_timeout: int = 30, max_receive: int = 3) -> Queues:
        return make_queues(self.endpoint, visibility_timeout, max_receive)

    @staticmethod
    def issue_api_key(pg: PostgresServer, merchant_id: str, database: str) -> str:
        return issue_api_key(pg, merchant_id, database)

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        stop(proc, sig)

    @staticmethod
    @asynccontextmanager
    async def serve(
        app: FastAPI, headers: dict[str, str] | None = None
    ) -> AsyncIterator[httpx.AsyncClient]:
        """The app with its lifespan over an in-process transport; `headers` on every request
        (a merchant's Authorization). `http.app` is the app, to reach its state."""
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://api", headers=headers
            ) as http:
                http.app = app  # type: ignore[attr-defined]
                yield http

    @staticmethod
    def new_key() -> str:
        return "idem-" + _letters(32)

    def queue_depth(self, queue_url: str) -> int:
        attrs = self.aws("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    @staticmethod
    async def until(
        condition: Callable[[], Awaitable[bool] | bool],
        timeout: float = 15.0,
        what: str = "the condition",
    ) -> None:
        """Poll (sync or async) `condition` with a deadline instead of sleeping a fixed time:
        for what the outbox relay and the worker do in the background."""
        deadline = time.monotonic() + timeout
        while True:
            outcome = condition()
            if await outcome if inspect.isawaitable(outcome) else outcome:
                return
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

    async def create_payment(self, api: httpx.AsyncClient, body: dict[str, Any]) -> str:
        """A pending payment through the real API (`api`: conftest's `client`, authenticated),
        returned once the outbox relay has put its message on the queue."""
        response = await api.post(
            "/payments", json=body, headers={"Idempotency-Key": self.new_key()}
        )
        assert response.status_code == 202, response.text
        payment_id = str(response.json()["id"])
        pool = api.app.state.pool  # type: ignore[attr-defined]

        async def relayed() -> bool:
            stored = await db.get_payment(pool, payment_id)
            return stored is not None and stored.enqueued

        await self.until(relayed, timeout=10, what="the relay to send the payment")
        return payment_id

    @staticmethod
    def worker(
        settings: Settings, pool: Any, payment_cache: cache.PaymentCache, processor: Any = None
    ) -> PaymentWorker:
        """A worker on the test servers (the simulated acquirer unless `processor` is given)."""
        return PaymentWorker(
            settings,
            pool,
            payment_cache,
            processor if processor is not None else SimulatedAcquirer(),
            sqs=aws_client(settings, "sqs"),
            s3=aws_client(settings, "s3"),
            sns=aws_client(settings, "sns"),
        )

    def on_fresh_queues(
        self, settings: Settings, visibility_timeout: int, max_receive: int, **overrides: Any
    ) -> tuple[Settings, Queues]:
        """New queues with their own DLQ, and settings pointing at both with the worker's
        visibility timeout equal to the queue's (plus `overrides`)."""
        queues = self.make_queues(visibility_timeout, max_receive)
        moved = replace(
            settings,
            payment_queue_url=queues.url,
            payment_dlq_url=queues.dlq_url,
            worker_visibility_timeout=visibility_timeout,
            **overrides,
        )
        return moved, queues

    def enqueue(self, queue_url: str, payment_id: str) -> None:
        """A payment's message, as the outbox relay sends it (e.g. a duplicate delivery)."""
        body = json.dumps({"payment_id": payment_id})
        self.aws("sqs").send_message(QueueUrl=queue_url, MessageBody=body)

    @staticmethod
    @contextlib.contextmanager
    def captured_logs(card_filter: bool, level: int = logging.DEBUG) -> Iterator[io.StringIO]:
        """Everything logged, as production writes it: its JSON formatter, and with
        `card_filter` its card-data filter too (without it, a test sees what the service itself
        logs, before the last line of defence)."""
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter("payment-api", "test"))
        if card_filter:
            handler.addFilter(CardDataFilter())
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(level)
        try:
            yield stream
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)

    @staticmethod
    def counting_processor(delay: float = 0.0) -> CountingProcessor:
        """The simulated acquirer counting its calls (`.calls`)."""
        return CountingProcessor(delay)

    def events(
        self,
        queue_url: str,
        expected: int | None = 1,
        wait: float = 3.0,
        payment_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Events read (and deleted) off a subscriber queue, polled until `expected` arrived or
        `wait` ran out; `expected=None` polls for all of `wait` (to see that none follow).
        With `payment_id`, only that payment's events are taken; others stay on the queue."""
        sqs, found = self.aws("sqs"), list[dict[str, Any]]()
        deadline = time.monotonic() + wait
        while (expected is None or len(found) < expected) and time.monotonic() < deadline:
            for message in sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", []):
                event = json.loads(message["Body"])
                if payment_id is None or event["payment_id"] == payment_id:
                    found.append(event)
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def events_queue(self, topic_arn: str) -> str:
        """A fresh SQS queue subscribed to the events topic (raw delivery)."""
        sqs = self.aws("sqs")
        url = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:10]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.aws("sns").subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        return str(url)


class CountingProcessor:
    """The simulated acquirer, counting its calls (optionally slow: `delay` seconds each)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.inner = SimulatedAcquirer(delay)
        self.calls = 0

    async def authorize(self, payment: Payment) -> ProcessorResult:
        self.calls += 1
        return await self.inner.authorize(payment)


@pytest.fixture
def events_queue(kit: Kit, settings: Settings) -> str:
    """A queue subscribed to the events topic for this test only."""
    return kit.events_queue(settings.events_topic_arn)


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A TCP listener that accepts connections and never answers: a hung server (PostgreSQL,
    Redis or SQS) for the fault tests."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)  # held open, never read from or written to

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stopping.set()
        server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        server.close()
        for conn in accepted:
            conn.close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def kit(aws_resources: AwsResources) -> Kit:
    return Kit(aws_resources.endpoint)


MERCHANT_ID = "merchant_42"  # the merchant the `client` fixture authenticates as
OTHER_MERCHANT_ID = "merchant_7"


def issue_api_key(
    postgres_server: PostgresServer, merchant_id: str, database: str = "payments"
) -> str:
    """A fresh API key, issued as the management command does (here as the superuser)."""

    async def issue() -> str:
        conn = await postgres_server.admin_connect(database)
        try:
            return (await merchants.create_key(conn, merchant_id, "tests")).api_key
        finally:
            await conn.close()

    return asyncio.run(issue())


@pytest.fixture(scope="session")
def api_key(base_settings: Settings, postgres_server: PostgresServer) -> str:
    """MERCHANT_ID's key (base_settings first: the api_keys table must exist)."""
    return issue_api_key(postgres_server, MERCHANT_ID)


@pytest.fixture(scope="session")
def other_api_key(base_settings: Settings, postgres_server: PostgresServer) -> str:
    """OTHER_MERCHANT_ID's key: to show one merchant cannot see another's payments."""
    return issue_api_key(postgres_server, OTHER_MERCHANT_ID)


@pytest.fixture(scope="session")
def api_headers(api_key: str) -> dict[str, str]:
    """What an authenticated client of MERCHANT_ID sends on every request."""
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def payment_body() -> dict[str, Any]:
    """A valid POST /payments body; variants derive from it ({**payment_body, "amount": 0}).

    The token is fresh per test, so payments of different tests never share one.
    """
    return {
        "amount": 1250,
        "currency": "EUR",
        "payment_method_token": "tok_" + _letters(16),
        "description": "order 1001",
    }


async def clear_outbox(postgres_server: PostgresServer) -> None:
    """Mark every unsent outbox record of the session database sent: a test's relay drains the
    whole outbox into that test's queue, so records an earlier test left behind (its SQS was
    down when it ended) must not show up in the next test's queue."""
    conn = await postgres_server.admin_connect()
    try:
        await conn.execute("UPDATE payment_outbox SET sent_at = now() WHERE sent_at IS NULL")
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def client(
    settings: Settings, api_headers: dict[str, str], postgres_server: PostgresServer
) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI app, lifespan included, over an in-process transport, authenticated as
    MERCHANT_ID (pass `headers={"Authorization": ...}` on a request to act as someone else)."""
    await clear_outbox(postgres_server)
    async with Kit.serve(create_app(settings), api_headers) as http:
        yield http


@pytest_asyncio.fixture
async def pool(settings: Settings) -> AsyncIterator[Any]:
    pg_pool = await db.create_pool(settings)
    try:
        yield pg_pool
    finally:
        await pg_pool.close()


@pytest_asyncio.fixture
async def payment_cache(settings: Settings) -> AsyncIterator[cache.PaymentCache]:
    redis_client = cache.create_client(settings)
    try:
        yield cache.PaymentCache(redis_client, settings.cache_ttl_seconds)
    finally:
        await redis_client.aclose()


@pytest_asyncio.fixture
async def app_conn(settings: Settings) -> AsyncIterator[Any]:
    """One connection exactly as the service opens them (db.connect_kwargs, the app role)."""
    conn = await asyncpg.connect(**db.connect_kwargs(settings, settings.db_password))
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def owner_conn(settings: Settings, identities: Identities) -> AsyncIterator[Any]:
    """Where keys are issued and revoked, as the merchants command does it: the master login,
    switched to the owner role."""
    master = migrate.MasterCredentials(identities.master_user, identities.master_password)
    conn = await merchants.connect_as_owner(settings, master)
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def pg_admin(postgres_server: PostgresServer) -> AsyncIterator[Any]:
    """The superuser on the payments database: to inspect the catalog and change passwords."""
    conn = await postgres_server.admin_connect()
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def redis_admin(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """The default (admin) user on the plain Redis: what the service's user may not do."""
    client = aioredis.Redis(
        host=redis_server.host,
        port=redis_server.port,
        password=REDIS_ADMIN_PASSWORD,
        decode_responses=True,
    )
    try:
        yield client
    finally:
        await client.aclose()
