"""Credentials minted per connection: IAM tokens, rotation, reconnects and the master secret.

Vanilla PostgreSQL and Redis cannot check IAM tokens, so the tokens are verified here by
recomputing SigV4 from AWS's documented algorithm, and the servers use passwords that the tests
change (as RDS rotation would) behind a provider that, like the IAM one, returns the current
credential for every new connection.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import alembic.command
import asyncpg  # type: ignore[import-untyped]
import boto3  # type: ignore[import-untyped]
import httpx
import pytest
import redis.asyncio as aioredis
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from payment_app import aws, cache, credentials, db, migrate
from payment_app.api import create_app
from payment_app.config import Settings
from payment_app.credentials import (
    ElastiCacheIamCredentials,
    RdsIamToken,
    StaticPassword,
    StaticRedisCredentials,
    elasticache_auth_token,
)
from payment_app.worker import __main__ as worker_main
from payment_app.worker.service import PaymentWorker
from redis.asyncio.connection import AbstractConnection
from redis.credentials import CredentialProvider
from redis.exceptions import AuthenticationError

REGION = "eu-west-1"
FIXED = Credentials("AKIDEXAMPLE", "secret")

# --- SigV4, recomputed independently (docs.aws.amazon.com/IAM/latest/UserGuide/
# reference_sigv-create-signed-request.html): canonical request, string to sign, key chain.


def _encode(value: str) -> str:
    """URI-encode every byte except the unreserved characters A-Z a-z 0-9 - _ . ~."""
    return quote(value, safe="-_.~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def verify_presigned(token: str, secret_key: str, service: str, region: str) -> dict[str, str]:
    """Check a presigned token's signature; return its query parameters."""
    assert "://" not in token and token.split("/", 1)[1].startswith("?"), token
    url = urlsplit("//" + token)
    params = dict(parse_qsl(url.query, keep_blank_values=True, strict_parsing=True))
    signature = params.pop("X-Amz-Signature")
    assert params["X-Amz-SignedHeaders"] == "host"  # the host is the only signed header
    canonical_query = "&".join(
        f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items(), key=lambda kv: kv[0])
    )
    canonical_request = "\n".join(
        ["GET", "/", canonical_query, f"host:{url.netloc}\n", "host", hashlib.sha256().hexdigest()]
    )
    amz_date = params["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, signature), "signature does not verify"
    return {**params, "host": url.netloc}


def _assert_fresh_scope(params: dict[str, str], access_key: str, service: str) -> None:
    signed_at = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.UTC
    )
    assert abs(datetime.datetime.now(datetime.UTC) - signed_at) < datetime.timedelta(minutes=5)
    date = params["X-Amz-Date"][:8]
    assert params["X-Amz-Credential"] == f"{access_key}/{date}/{REGION}/{service}/aws4_request"
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "900"  # 15 minutes, the services' maximum


# --- Token shapes and signatures -------------------------------------------------------------


@pytest.mark.parametrize("session_token", [None, "session-token/with+chars="])
@pytest.mark.asyncio
async def test_rds_token_is_a_presigned_connect_url(session_token: str | None) -> None:
    rds = boto3.client(
        "rds",
        region_name="us-east-1",  # the token names the region it is given, not the client's
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        aws_session_token=session_token,
    )
    provider = RdsIamToken(
        rds, "db.cluster-abc.eu-west-1.rds.amazonaws.com", 5432, "payment_app", REGION
    )
    token = await provider()
    assert token.startswith("db.cluster-abc.eu-west-1.rds.amazonaws.com:5432/?")
    params = verify_presigned(token, "secret", "rds-db", REGION)
    assert params["host"] == "db.cluster-abc.eu-west-1.rds.amazonaws.com:5432"
    assert (params["Action"], params["DBUser"]) == ("connect", "payment_app")
    _assert_fresh_scope(params, "AKIDEXAMPLE", "rds-db")
    assert params.get("X-Amz-Security-Token") == session_token  # signed with the rest
    assert "secret" not in repr(provider)


@pytest.mark.parametrize("session_token", [None, "task-role-session-token"])
def test_elasticache_token_is_a_presigned_connect_url(session_token: str | None) -> None:
    token = elasticache_auth_token(
        Credentials("AKIDEXAMPLE", "secret", session_token), "payments-cache", "payment-app", REGION
    )
    assert token.startswith("payments-cache/?")  # no scheme, no port: the replication group id
    params = verify_presigned(token, "secret", "elasticache", REGION)
    assert params["host"] == "payments-cache"
    assert (params["Action"], params["User"]) == ("connect", "payment-app")
    assert "ResourceType" not in params  # serverless caches only
    _assert_fresh_scope(params, "AKIDEXAMPLE", "elasticache")
    assert params.get("X-Amz-Security-Token") == session_token


def test_elasticache_user_is_quoted_into_the_token() -> None:
    params = verify_presigned(
        elasticache_auth_token(FIXED, "c1", "user name&x=1", REGION),
        "secret",
        "elasticache",
        REGION,
    )
    assert params["User"] == "user name&x=1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("User=payment-app", "User=admin"),
        lambda t: t.replace("payments-cache/", "other-cache/"),
        lambda t: t.replace("X-Amz-Expires=900", "X-Amz-Expires=901"),
    ],
    ids=["user", "host", "expiry"],
)
def test_signature_check_rejects_a_tampered_token(tamper: Any) -> None:
    """Control: the verifier above fails when anything signed changes, or the key is wrong."""
    token = elasticache_auth_token(FIXED, "payments-cache", "payment-app", REGION)
    verify_presigned(token, "secret", "elasticache", REGION)
    with pytest.raises(AssertionError, match="signature"):
        verify_presigned(tamper(token), "secret", "elasticache", REGION)
    with pytest.raises(AssertionError, match="signature"):
        verify_presigned(token, "other-secret", "elasticache", REGION)


def test_redis_provider_signs_a_fresh_token_for_every_connection() -> None:
    calls: list[int] = []

    def source() -> Any:
        calls.append(1)
        return FIXED

    provider = ElastiCacheIamCredentials("payment-app", "payments-cache", REGION, source)
    first, second = provider.get_credentials(), asyncio.run(provider.get_credentials_async())
    assert len(calls) == 2  # never cached: each connection asks for current credentials
    for user, token in (first, second):
        assert user == "payment-app"
        verify_presigned(token, "secret", "elasticache", REGION)


def test_iam_settings_select_the_token_providers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DB_AUTH=iam / REDIS_AUTH=iam wire the token providers to boto's default chain (here the
    environment; on ECS the task role) and nothing else."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "chain-token")
    iam = replace(
        settings,
        db_auth="iam",
        db_password="",
        redis_auth="iam",
        redis_password="",
        redis_cache_name="payments-cache",
    )
    db_provider = credentials.db_password_provider(iam)
    assert isinstance(db_provider, RdsIamToken)
    db_token = asyncio.run(db_provider())
    db_params = verify_presigned(db_token, "chain-secret", "rds-db", REGION)
    assert db_params["DBUser"] == settings.db_user == "payment_app"
    assert db_params["host"] == f"{settings.db_host}:{settings.db_port}"
    assert db_params["X-Amz-Security-Token"] == "chain-token"
    redis_provider = credentials.redis_credentials_provider(iam)
    assert isinstance(redis_provider, ElastiCacheIamCredentials)
    user, token = redis_provider.get_credentials()
    redis_params = verify_presigned(token, "chain-secret", "elasticache", REGION)
    assert user == redis_params["User"] == settings.redis_user
    assert redis_params["host"] == "payments-cache"
    password_mode = credentials.db_password_provider(settings)
    assert isinstance(password_mode, StaticPassword)
    assert asyncio.run(password_mode()) == settings.db_password


# --- Providers are asked once per new connection ---------------------------------------------


class RotatingPassword:
    """A DB password provider returning the current credential, counting how often it is asked."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return self.password


class RotatingRedis(CredentialProvider):
    """The Redis counterpart: the current `(user, password)` for every new connection."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password, self.calls = user, password, 0

    def get_credentials(self) -> tuple[str, str]:
        self.calls += 1
        return self.user, self.password

    async def get_credentials_async(self) -> tuple[str, str]:
        return self.get_credentials()


@pytest.mark.asyncio
async def test_db_password_provider_is_called_once_per_new_connection(
    settings: Settings, identities: Any
) -> None:
    provider = RotatingPassword(identities.app_password)
    pool = await db.create_pool(settings, provider)
    try:
        assert provider.calls == 0  # min_size 0: nothing opened up front
        held = [await pool.acquire() for _ in range(4)]
        assert provider.calls == 4
        assert {await c.fetchval("SELECT current_user") for c in held} == {"payment_app"}
        for conn in held:
            await pool.release(conn)
        again = [await pool.acquire() for _ in range(4)]  # reused: no new credential needed
        assert provider.calls == 4
        for conn in again:
            await pool.release(conn)
    finally:
        await pool.close()


@pytest.mark.asyncio
async def test_redis_provider_is_called_once_per_new_connection(
    settings: Settings, identities: Any
) -> None:
    provider = RotatingRedis(identities.redis_app_user, identities.redis_app_password)
    client = cache.create_client(settings, provider)
    try:
        pool: Any = client.connection_pool
        held = [await pool.get_connection() for _ in range(3)]
        assert provider.calls == 3
        for conn in held:
            await pool.release(conn)
        for _ in range(5):
            assert await client.ping()
        assert provider.calls == 3
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_no_client_setinfo_on_connect(
    settings: Settings,
    identities: Any,
    redis_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ElastiCache user may run only GET, SET, DEL and PING: on connect the client sends
    the handshake (HELLO with AUTH) and nothing else (no CLIENT SETINFO or MAINT_NOTIFICATIONS)."""
    sent: list[tuple[str, ...]] = []
    original = AbstractConnection.send_command

    async def spy(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        sent.append(tuple(str(a).upper() for a in args))
        await original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_command", spy)
    client = cache.create_client(settings)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
    assert "AUTH" in sent[0]  # HELLO 3 AUTH user password: the handshake, then the PING
    assert [c[:2] for c in sent] == [("HELLO", "3"), ("PING",)]
    # Control: redis-py's defaults send both, and the spy sees them.
    sent.clear()
    default = aioredis.Redis(
        host=redis_server.host,
        port=redis_server.port,
        username=identities.redis_app_user,
        password=identities.redis_app_password,
    )
    try:
        assert await default.ping()
    finally:
        await default.aclose()
    assert {("CLIENT", "SETINFO"), ("CLIENT", "MAINT_NOTIFICATIONS")} <= {c[:2] for c in sent}


# --- Rotation: the outage reproduced, and gone -----------------------------------------------


async def _create(http: httpx.AsyncClient, kit: Any, body: dict[str, Any]) -> httpx.Response:
    return await http.post("/payments", json=body, headers={"Idempotency-Key": kit.new_key()})


def _new_password() -> str:
    return "rotated-" + uuid.uuid4().hex


@pytest.mark.asyncio
async def test_db_password_rotation_no_longer_breaks_the_service(
    settings: Settings,
    api_headers: dict[str, str],
    identities: Any,
    pg_admin: Any,
    kit: Any,
    payment_body: dict[str, Any],
) -> None:
    short = replace(settings, db_pool_idle_seconds=1)
    old, new = identities.app_password, _new_password()
    provider = RotatingPassword(old)
    # Before this change: a credential injected once at start, used for every connection.
    static_pool = await db.create_pool(short, StaticPassword(old))
    try:
        async with kit.serve(create_app(short, db_password=provider), api_headers) as http:
            assert await static_pool.fetchval("SELECT 1") == 1  # fine until the rotation
            assert (await _create(http, kit, payment_body)).status_code == 202
            await pg_admin.execute(f"ALTER ROLE payment_app PASSWORD '{new}'")
            provider.password = new  # what the provider returns now (IAM: a fresh token)
            asked_before = provider.calls
            await asyncio.sleep(1.6)  # past DB_POOL_IDLE_SECONDS: the idle connections close
            # The outage, reproduced: every new connection of the static pool fails auth.
            with pytest.raises(asyncpg.InvalidPasswordError):
                await static_pool.fetchval("SELECT 1")
            # The service: every request served, on new connections with the new credential.
            bodies = [{**payment_body, "payment_method_token": f"tok_rot{c}"} for c in "abcde"]
            responses = await asyncio.gather(*(_create(http, kit, b) for b in bodies))
            responses.append(await http.get("/ready"))
            assert [r.status_code for r in responses] == [202] * 5 + [200]
            assert provider.calls > asked_before
    finally:
        await pg_admin.execute(f"ALTER ROLE payment_app PASSWORD '{old}'")
        await static_pool.close()


@pytest.mark.asyncio
async def test_redis_password_rotation_keeps_serving_from_the_cache(
    settings: Settings,
    api_headers: dict[str, str],
    identities: Any,
    redis_admin: Any,
    kit: Any,
    payment_body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    user, old, new = identities.redis_app_user, identities.redis_app_password, _new_password()
    provider = RotatingRedis(user, old)
    static = cache.create_client(settings, StaticRedisCredentials(user, old))
    caplog.set_level(logging.WARNING, logger="payment_app")
    try:
        assert await static.ping()  # fine until the rotation
        async with kit.serve(create_app(settings, redis_credentials=provider), api_headers) as http:
            payment_id = (await _create(http, kit, payment_body)).json()["id"]
            assert (await http.get(f"/payments/{payment_id}")).headers["x-cache"] == "miss"
            assert (await http.get(f"/payments/{payment_id}")).headers["x-cache"] == "hit"
            await redis_admin.execute_command("ACL", "SETUSER", user, "resetpass", f">{new}")
            provider.password = new
            asked_before = provider.calls
            assert await redis_admin.execute_command("CLIENT", "KILL", "USER", user) >= 1
            # The outage, reproduced: a client holding the old password cannot reconnect.
            with pytest.raises(AuthenticationError):
                await static.ping()
            # The service: every read still a cache hit, served by Redis, nothing failed.
            responses = [await http.get(f"/payments/{payment_id}") for _ in range(5)]
            assert [(r.status_code, r.headers["x-cache"]) for r in responses] == [(200, "hit")] * 5
            assert provider.calls > asked_before
    finally:
        await redis_admin.execute_command("ACL", "SETUSER", user, "resetpass", f">{old}")
        await static.aclose()
    assert not [r for r in caplog.records if r.name.startswith("payment_app.cache")]


@pytest.mark.asyncio
async def test_server_side_disconnect_is_replaced_without_a_failed_read(
    settings: Settings,
    api_headers: dict[str, str],
    identities: Any,
    redis_admin: Any,
    kit: Any,
    payment_body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ElastiCache ends IAM connections after 12 hours: the next read reconnects (with a fresh
    credential) and is still a hit, with no error, no warning and no cache bypass."""
    user = identities.redis_app_user
    provider = RotatingRedis(user, identities.redis_app_password)
    caplog.set_level(logging.WARNING, logger="payment_app")
    async with kit.serve(create_app(settings, redis_credentials=provider), api_headers) as http:
        payment_id = (await _create(http, kit, payment_body)).json()["id"]
        await http.get(f"/payments/{payment_id}")  # miss: populates
        for _ in range(3):
            asked_before = provider.calls
            assert await redis_admin.execute_command("CLIENT", "KILL", "USER", user) >= 1
            response = await http.get(f"/payments/{payment_id}")
            assert (response.status_code, response.headers["x-cache"]) == (200, "hit")
            assert provider.calls == asked_before + 1  # one new connection, one new credential
        ready = await http.get("/ready")
        assert ready.status_code == 200
    assert not [r for r in caplog.records if r.name.startswith("payment_app.cache")]


# --- The master secret: read when migrations run, and only then ------------------------------


def _spy_on_clients(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the service of every boto3 client the app creates (the secret needs one)."""
    services: list[str] = []
    real_client = aws.client

    def spy(settings: Settings, service: str, *args: Any, **kwargs: Any) -> Any:
        services.append(service)
        return real_client(settings, service, *args, **kwargs)

    monkeypatch.setattr(aws, "client", spy)
    return services


@pytest.mark.asyncio
async def test_migration_secret_is_read_only_when_migrations_run(
    settings: Settings, kit: Any, api_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _spy_on_clients(monkeypatch)
    runs: list[tuple[bool, Any]] = []
    real_upgrade = alembic.command.upgrade

    def upgrade(config: Any, revision: str) -> None:
        master = config.attributes[migrate.MASTER_ATTRIBUTE]  # present during the run
        runs.append((master, config))
        real_upgrade(config, revision)

    monkeypatch.setattr(alembic.command, "upgrade", upgrade)
    app = create_app(replace(settings, run_migrations=True))
    assert services == []  # building the app (like importing it, or settings) reads nothing
    async with kit.serve(app, api_headers) as http:
        # Once each, at start: the master secret for the migration, the idempotency HMAC key.
        assert services.count("secretsmanager") == 2
        assert (await http.get("/ready")).status_code == 200
    assert services.count("secretsmanager") == 2
    ((master, config),) = runs
    assert isinstance(master, migrate.MasterCredentials)
    assert master.password not in repr(master)
    assert migrate.MASTER_ATTRIBUTE not in config.attributes  # dropped after the run


@pytest.mark.asyncio
async def test_worker_serves_without_the_migration_secret(
    settings: Settings, identities: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RUN_MIGRATIONS=false, no secret ARN: the worker starts, and uses the injected providers."""
    worker_settings = replace(settings, run_migrations=False, db_migration_secret_arn="")
    services = _spy_on_clients(monkeypatch)
    checked: list[str] = []

    async def run_once_and_stop(self: Any) -> None:
        await db.ping(self.pool)
        await self.cache.ping()
        checked.append("ok")

    monkeypatch.setattr(PaymentWorker, "run", run_once_and_stop)
    db_provider = RotatingPassword(identities.app_password)
    redis_provider = RotatingRedis(identities.redis_app_user, identities.redis_app_password)
    await worker_main.serve(
        worker_settings, db_password=db_provider, redis_credentials=redis_provider
    )
    assert checked == ["ok"]
    assert (db_provider.calls, redis_provider.calls) == (1, 1)
    assert "secretsmanager" not in services


@pytest.mark.asyncio
async def test_master_secret_rotation_affects_only_the_next_migration_run(
    settings: Settings,
    api_headers: dict[str, str],
    identities: Any,
    pg_admin: Any,
    kit: Any,
    aws_resources: Any,
    payment_body: dict[str, Any],
) -> None:
    secrets = kit.aws("secretsmanager")
    arn, master = aws_resources.master_secret_arn, identities.master_user
    old, new = identities.master_password, _new_password()

    def store(password: str) -> None:
        secrets.put_secret_value(
            SecretId=arn, SecretString=json.dumps({"username": master, "password": password})
        )

    running = replace(settings, db_pool_idle_seconds=1)
    try:
        async with kit.serve(create_app(running), api_headers) as http:
            assert (await _create(http, kit, payment_body)).status_code == 202
            # RDS rotates the master password and the secret together.
            await pg_admin.execute(f"ALTER ROLE {master} PASSWORD '{new}'")
            store(new)
            await asyncio.sleep(1.2)  # the running app reconnects after its idle timeout...
            again = {**payment_body, "payment_method_token": "tok_afterrotation"}
            assert (await _create(http, kit, again)).status_code == 202  # ...unaffected
            # A new start runs the migrations with the secret's current value.
            async with kit.serve(
                create_app(replace(settings, run_migrations=True)), api_headers
            ) as started:
                assert (await started.get("/ready")).status_code == 200
            # A stale secret (the database has moved on): a fast, clear failure, not a hang.
            store(old)
            stale = create_app(replace(settings, run_migrations=True))
            began = asyncio.get_running_loop().time()
            with pytest.raises(migrate.MigrationError) as caught:
                async with kit.serve(stale, api_headers):
                    pass
            assert asyncio.get_running_loop().time() - began < 5
            message = str(caught.value)
            assert "refused the master login" in message and "DB_MIGRATION_SECRET_ARN" in message
            assert old not in message and new not in message
    finally:
        await pg_admin.execute(f"ALTER ROLE {master} PASSWORD '{old}'")
        store(old)


# --- Auto-pause: an idle service holds no database connection --------------------------------


@pytest.mark.asyncio
async def test_idle_service_leaves_no_database_connection(
    settings: Settings,
    api_headers: dict[str, str],
    pg_admin: Any,
    kit: Any,
    payment_body: dict[str, Any],
) -> None:
    """Aurora Serverless v2 pauses only without connections: after DB_POOL_IDLE_SECONDS of
    quiet, pg_stat_activity shows none of the application role's for this service."""
    tag = "autopause" + uuid.uuid4().hex[:8]
    idle = replace(settings, environment=tag, db_pool_idle_seconds=1)

    async def connections() -> int:
        count: int = await pg_admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'payment_app' "
            "AND application_name = $1",
            f"payment-app-{tag}",
        )
        return count

    async with kit.serve(create_app(idle), api_headers) as http:
        bodies = [{**payment_body, "payment_method_token": f"tok_idle{c}"} for c in "abcd"]
        responses = await asyncio.gather(*(_create(http, kit, b) for b in bodies))
        assert [r.status_code for r in responses] == [202] * 4
        assert await connections() >= 1
        for _ in range(30):
            if await connections() == 0:
                break
            await asyncio.sleep(0.1)
        assert await connections() == 0
        assert (await http.get("/ready")).status_code == 200  # and the next request is served
        assert await connections() == 1
