"""Least privilege: the roles the migrations create, and the Redis ACL user the service runs as.

The session database was migrated by the master user (conftest); the service connects as the
application role with only the privileges revision 0002 grants.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from payment_app import cache, db, migrate, outbox
from payment_app.config import Settings
from payment_app.models import PaymentRequest
from redis.exceptions import NoPermissionError
from sqlalchemy.exc import DBAPIError

pytestmark = pytest.mark.asyncio

APP_SOURCES = Path(__file__).resolve().parents[2] / "app" / "payment_app"
MERCHANT_ID = "merchant_roles"
OWNER_ROLE = "payment_owner"


def _request(token: str) -> PaymentRequest:
    return PaymentRequest.model_validate(
        {
            "amount": 990,
            "currency": "EUR",
            "payment_method_token": token,
            "description": "roles",
        }
    )


class _AcceptAll:
    """SQS accepting every entry: the relay's database side is what these tests check."""

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]], "Failed": []}


def _letters(n: int) -> str:
    return uuid.uuid4().hex[:n].translate(str.maketrans("0123456789", "ghijklmnop"))


# --- PostgreSQL: the application role --------------------------------------------------------


async def test_service_reads_and_writes_work_as_the_app_role(pool: Any, app_conn: Any) -> None:
    """Every query of db.py, through the pool the service uses, as payment_app."""
    assert await app_conn.fetchval("SELECT current_user") == "payment_app"
    digests = [secrets.token_bytes(32)]

    def dispatch(payment_id: str) -> db.Dispatch:
        return db.Dispatch(f'{{"payment_id": "{payment_id}"}}', MERCHANT_ID)

    request = _request("tok_" + _letters(12))
    payment, created = await db.create_or_get(pool, MERCHANT_ID, digests, request, dispatch)
    assert created
    again, created_again = await db.create_or_get(pool, MERCHANT_ID, digests, request, dispatch)
    assert (again.id, created_again) == (payment.id, False)
    relay = outbox.OutboxRelay(pool, _AcceptAll(), "https://sqs.example/payments")
    assert await relay.drain() >= 1  # lock, mark sent, set enqueued_at: as the app role
    moved = await db.transition(pool, payment.id, "pending", "processing")
    assert moved is not None and moved.status == "processing"
    done = await db.transition(
        pool, payment.id, "processing", "failed", failure_reason="x", processor_reference="r"
    )
    assert done is not None and done.failure_reason == "x"
    async with db.event_publication(pool, payment.id) as mark:  # the row lock, as the app role
        assert mark is not None
        await mark()
    async with db.event_publication(pool, payment.id) as mark:
        assert mark is None  # published: nobody publishes again
    stored = await db.get_payment(pool, payment.id)
    assert stored is not None and stored.event_published
    await db.ping(pool)


REFUSED = {
    "update-amount": "UPDATE payments SET amount = amount + 1",
    "update-token": "UPDATE payments SET payment_method_token = 'tok_x'",
    "update-created-at": "UPDATE payments SET created_at = now()",
    "insert-id": (
        "INSERT INTO payments (id, idempotency_digest, request_hash, merchant_id, amount, currency,"
        " payment_method_token, status) VALUES (gen_random_uuid(), 'k', 'h', 'm', 1, 'EUR',"
        " 'tok_x', 'pending')"
    ),
    "delete": "DELETE FROM payments",
    "delete-outbox": "DELETE FROM payment_outbox",
    "update-outbox-body": "UPDATE payment_outbox SET message_body = '{}'",
    "truncate": "TRUNCATE payments",
    "create-table": "CREATE TABLE intruder (id int)",
    "create-temp-table": "CREATE TEMPORARY TABLE intruder (id int)",
    "drop-table": "DROP TABLE payments",
    "alter-table": "ALTER TABLE payments ADD COLUMN intruder int",
    "create-index": "CREATE INDEX intruder ON payments (amount)",
    "create-schema": "CREATE SCHEMA intruder",
    "create-role": "CREATE ROLE intruder",
    "create-database": "CREATE DATABASE intruder",
    "alembic-version": "UPDATE alembic_version SET version_num = '0001'",
}


@pytest.mark.parametrize("sql", list(REFUSED.values()), ids=list(REFUSED))
async def test_app_role_is_refused_everything_else(app_conn: Any, sql: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(sql)


async def test_app_role_attributes_and_ownership(pg_admin: Any) -> None:
    role = await pg_admin.fetchrow("SELECT * FROM pg_roles WHERE rolname = 'payment_app'")
    assert role["rolcanlogin"]
    for attribute in ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication"):
        assert role[attribute] is False, attribute
    assert role["rolbypassrls"] is False
    owned = await pg_admin.fetchval(
        """
        SELECT (SELECT count(*) FROM pg_class WHERE relowner = $1)
             + (SELECT count(*) FROM pg_namespace WHERE nspowner = $1)
             + (SELECT count(*) FROM pg_database WHERE datdba = $1)
             + (SELECT count(*) FROM pg_proc WHERE proowner = $1)
             + (SELECT count(*) FROM pg_type WHERE typowner = $1)
        """,
        role["oid"],
    )
    assert owned == 0
    memberships = await pg_admin.fetch(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
        "WHERE m.member = $1",
        role["oid"],
    )
    assert [m["rolname"] for m in memberships] == ["rds_iam"]  # and not payment_owner


async def test_schema_and_tables_belong_to_the_owner_role(pg_admin: Any, identities: Any) -> None:
    owners = await pg_admin.fetch(
        "SELECT relname, pg_get_userbyid(relowner) AS owner FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i', 'S', 'v')"
    )
    assert {r["relname"] for r in owners} >= {"payments", "alembic_version"}
    assert {r["owner"] for r in owners} == {OWNER_ROLE}  # tables and their indexes
    assert (
        await pg_admin.fetchval(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
        )
        == OWNER_ROLE
    )
    owner = await pg_admin.fetchrow("SELECT * FROM pg_roles WHERE rolname = $1", OWNER_ROLE)
    assert owner["rolcanlogin"] is False
    # The master may SET ROLE to it; PUBLIC may no longer create objects in the schema.
    assert await pg_admin.fetchval(
        "SELECT pg_has_role($1, $2, 'MEMBER')", identities.master_user, OWNER_ROLE
    )
    assert not await pg_admin.fetchval("SELECT has_schema_privilege('public', 'public', 'CREATE')")


def _db_py_writes(table: str = "payments") -> tuple[set[str], set[str]]:
    """The columns the service inserts into and updates in `table`, read from its SQL (every
    module but the migrations, which run as the owner)."""
    source = "\n".join(
        path.read_text()
        for path in APP_SOURCES.rglob("*.py")
        if "migrations" not in path.relative_to(APP_SOURCES).parts
    )
    inserted: set[str] = set()
    for columns in re.findall(rf"INSERT INTO {table} \(([^)]*)\)", source):
        inserted |= {c.strip() for c in columns.split(",")}
    assert inserted, f"no INSERT INTO {table} found"
    updated: set[str] = set()
    for assignments in re.findall(rf"UPDATE {table}\s+SET (.*?)[\s\"]+WHERE", source, re.S):
        for part in re.split(r",\s*(?![^()]*\))", assignments.replace('"', "")):
            updated.add(part.split("=")[0].strip())
    return inserted, updated


@pytest.mark.parametrize("table", ["payments", "payment_outbox"])
async def test_grants_are_exactly_what_the_service_writes(
    base_settings: Settings, pg_admin: Any, table: str
) -> None:
    """base_settings: the session database is migrated (and so granted) before it is read."""
    grants = await pg_admin.fetch(
        "SELECT privilege_type FROM information_schema.role_table_grants "
        "WHERE grantee = 'payment_app' AND table_name::text = $1",
        table,
    )
    assert {r["privilege_type"] for r in grants} == {"SELECT"}
    columns = await pg_admin.fetch(
        "SELECT privilege_type, column_name FROM information_schema.column_privileges "
        "WHERE grantee = 'payment_app' AND table_name::text = $1 "
        "AND privilege_type IN ('INSERT', 'UPDATE', 'REFERENCES')",
        table,
    )
    granted: dict[str, set[str]] = {"INSERT": set(), "UPDATE": set(), "REFERENCES": set()}
    for row in columns:
        granted[row["privilege_type"]].add(row["column_name"])
    inserted, updated = _db_py_writes(table)
    if table == "payments":  # never the amount, the token, the merchant or the key digest
        assert updated == {
            "status",
            "failure_reason",
            "processor_reference",
            "updated_at",
            "enqueued_at",
            "event_published_at",
        }
    assert granted == {"INSERT": inserted, "UPDATE": updated, "REFERENCES": set()}
    assert not await pg_admin.fetchval(
        "SELECT count(*) FROM information_schema.role_usage_grants "
        "WHERE grantee = 'payment_app' AND object_type = 'SEQUENCE'"
    )
    assert not await pg_admin.fetchval(  # ids are gen_random_uuid(): no sequence to grant
        "SELECT count(*) FROM pg_class "
        "WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
    )


# --- PostgreSQL: the migration runner --------------------------------------------------------


async def test_upgrade_takes_over_what_the_master_created_before(
    postgres_server: Any, base_settings: Settings, identities: Any
) -> None:
    """A database migrated the old way (0001, as the master, no roles): the next run hands the
    schema and tables to payment_owner and grants the application role."""
    name = f"legacy_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    settings = replace(base_settings, db_name=name)
    await asyncio.to_thread(migrate.upgrade, settings, "0001")
    # Rewind it to the old state: 0001 applied, everything owned by the master, no grants.
    admin = await postgres_server.admin_connect(name)
    try:
        master = identities.master_user
        await admin.execute(
            f"""
            REVOKE ALL ON payments FROM payment_app;
            REVOKE USAGE ON SCHEMA public FROM payment_app;
            ALTER TABLE payments OWNER TO {master};
            ALTER TABLE alembic_version OWNER TO {master};
            ALTER SCHEMA public OWNER TO pg_database_owner;
            UPDATE alembic_version SET version_num = '0001';
            """
        )
        await asyncio.to_thread(migrate.upgrade, settings)
        owners = await admin.fetch(
            "SELECT relname, pg_get_userbyid(relowner) AS owner FROM pg_class "
            "WHERE relname IN ('payments', 'alembic_version')"
        )
        assert {r["owner"] for r in owners} == {OWNER_ROLE} and len(owners) == 2
        assert await admin.fetchval("SELECT version_num FROM alembic_version") == (
            migrate.head_revision()
        )
        assert await admin.fetchval(
            "SELECT has_table_privilege('payment_app', 'payments', 'SELECT')"
        )
        assert (
            await admin.fetchval(
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
            )
            == OWNER_ROLE
        )
    finally:
        await admin.close()


async def test_the_app_role_comes_from_db_user_and_rds_iam_only_when_it_exists(
    postgres_server: Any, base_settings: Settings, pg_admin: Any
) -> None:
    """Another DB_USER, on a cluster without rds_iam (vanilla PostgreSQL): the role is created
    as a plain login role and receives the same grants; nothing is hard-coded to payment_app."""
    suffix = uuid.uuid4().hex[:8]
    name, role = f"plain_{suffix}", f"svc_{suffix}"
    postgres_server.create_database(name)
    await pg_admin.execute("ALTER ROLE rds_iam RENAME TO rds_iam_hidden")
    try:
        await asyncio.to_thread(migrate.upgrade, replace(base_settings, db_name=name, db_user=role))
    finally:
        await pg_admin.execute("ALTER ROLE rds_iam_hidden RENAME TO rds_iam")
    admin = await postgres_server.admin_connect(name)
    try:
        row = await admin.fetchrow("SELECT * FROM pg_roles WHERE rolname = $1", role)
        assert row is not None and row["rolcanlogin"] and not row["rolsuper"]
        assert not await admin.fetchval(
            "SELECT count(*) FROM pg_auth_members WHERE member = $1", row["oid"]
        )
        assert await admin.fetchval("SELECT has_table_privilege($1, 'payments', 'SELECT')", role)
        assert not await admin.fetchval(
            "SELECT has_table_privilege($1, 'payments', 'DELETE')", role
        )
        assert await admin.fetchval(
            "SELECT has_column_privilege($1, 'payments', 'status', 'UPDATE')", role
        )
    finally:
        await admin.close()
        await pg_admin.execute(f"DROP DATABASE {name}")
        await pg_admin.execute(f"DROP ROLE {role}")


async def test_migrations_refuse_the_master_as_the_app_role(
    base_settings: Settings, identities: Any
) -> None:
    settings = replace(base_settings, db_user=identities.master_user)
    with pytest.raises(migrate.MigrationError, match="DB_USER must be the application role"):
        await asyncio.to_thread(migrate.upgrade, settings)


async def test_migrations_refuse_a_superuser_app_role(
    postgres_server: Any, base_settings: Settings, identities: Any
) -> None:
    """The existing-role branch: an application role with superuser is an error, not used."""
    name = f"su_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    settings = replace(base_settings, db_name=name, db_user=identities.admin_user)
    with pytest.raises(DBAPIError, match="is a superuser; refusing to serve with it"):
        await asyncio.to_thread(migrate.upgrade, settings)


async def test_an_existing_app_role_loses_attributes_it_must_not_have(
    postgres_server: Any, base_settings: Settings, pg_admin: Any
) -> None:
    """A role someone created by hand (NOLOGIN, CREATEDB, CREATEROLE) is corrected, not used
    as it is."""
    suffix = uuid.uuid4().hex[:8]
    name, role = f"fix_{suffix}", f"svc_{suffix}"
    postgres_server.create_database(name)
    await pg_admin.execute(f"CREATE ROLE {role} NOLOGIN CREATEDB CREATEROLE")
    try:
        await asyncio.to_thread(migrate.upgrade, replace(base_settings, db_name=name, db_user=role))
        row = await pg_admin.fetchrow("SELECT * FROM pg_roles WHERE rolname = $1", role)
        assert row["rolcanlogin"] is True
        assert (row["rolcreatedb"], row["rolcreaterole"], row["rolsuper"]) == (False,) * 3
        assert await pg_admin.fetchval("SELECT pg_has_role($1, 'rds_iam', 'MEMBER')", role)
    finally:
        await pg_admin.execute(f"DROP DATABASE {name}")
        await pg_admin.execute(f"DROP ROLE {role}")


# --- Redis: the service's ACL user -----------------------------------------------------------


@pytest_asyncio.fixture
async def app_redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = cache.create_client(settings)
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_user_has_exactly_the_infrastructure_access_string(
    redis_admin: Any, identities: Any
) -> None:
    (line,) = [u for u in await redis_admin.acl_list() if u.startswith("user payment-app ")]
    rules = line.split()
    assert identities.redis_access_string == "on ~payment:* -@all +get +set +del +ping"
    for rule in identities.redis_access_string.split():
        assert rule in rules, rule
    assert not [
        r for r in rules if r.startswith("+") and r not in ("+get", "+set", "+del", "+ping")
    ]


async def test_redis_user_reads_and_writes_payment_keys(app_redis: aioredis.Redis) -> None:
    key = f"payment:v1:roles-{uuid.uuid4().hex}"
    assert await app_redis.set(key, "x", ex=30)
    assert await app_redis.get(key) == "x"
    assert await app_redis.delete(key) == 1
    assert await app_redis.ping()


REDIS_REFUSED = {
    "flushall": ("FLUSHALL",),
    "keys": ("KEYS", "*"),
    "config-get": ("CONFIG", "GET", "*"),
    "client-kill": ("CLIENT", "KILL", "USER", "default"),
    "get-other-key": ("GET", "session:1"),
    "set-other-key": ("SET", "session:1", "x"),
    "del-other-key": ("DEL", "other"),
    "ttl": ("TTL", "payment:v1:x"),
    "acl": ("ACL", "LIST"),
}


@pytest.mark.parametrize("command", list(REDIS_REFUSED.values()), ids=list(REDIS_REFUSED))
async def test_redis_user_is_refused_everything_else(
    app_redis: aioredis.Redis, command: tuple[str, ...]
) -> None:
    with pytest.raises(NoPermissionError):
        await app_redis.execute_command(*command)  # type: ignore[no-untyped-call]
