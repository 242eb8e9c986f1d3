"""Merchant API keys: the store (revision 0003), its functions and the operator command.

Against the session's real PostgreSQL: keys are written as the owner role (the master login,
as the command does it), verified as the application role, inspected as the superuser.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from alembic import command
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from payment_app import merchants, migrate
from payment_app.cardscan import contains_pan
from payment_app.config import Settings
from payment_app.migrate import MasterCredentials

pytestmark = pytest.mark.asyncio

APP_DIR = Path(__file__).resolve().parents[2] / "app"
KEY_FORMAT = re.compile(r"pk_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})")
VERIFY_COLUMNS = ("key_id", "merchant_id", "secret_sha256", "revoked_at")


def _merchant() -> str:
    return f"m_{uuid.uuid4().hex[:12]}"


def _secret(api_key: str) -> str:
    match = KEY_FORMAT.fullmatch(api_key)
    assert match is not None, "the issued key does not have the documented format"
    return match.group(2)


# --- the functions -----------------------------------------------------------------------------


async def test_create_key_stores_only_the_digest_of_the_secret(
    owner_conn: Any, pg_admin: Any
) -> None:
    merchant = _merchant()
    issued = await merchants.create_key(owner_conn, merchant, label="checkout backend")
    match = KEY_FORMAT.fullmatch(issued.api_key)
    assert match is not None and match.group(1) == issued.key_id
    assert issued.merchant_id == merchant
    assert issued.api_key not in repr(issued)
    secret = match.group(2)

    row = await pg_admin.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", issued.key_id)
    assert row["merchant_id"] == merchant
    assert row["label"] == "checkout backend"
    assert bytes(row["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()
    assert row["created_at"] is not None and row["revoked_at"] is None
    # No row anywhere in the table holds the plain key or its secret, in any encoding.
    dumped = [
        r["j"] for r in await pg_admin.fetch("SELECT row_to_json(k)::text AS j FROM api_keys k")
    ]
    assert dumped
    for text in dumped:
        assert secret not in text and secret.encode().hex() not in text
        assert issued.api_key not in text


async def test_a_key_that_would_read_as_a_card_number_is_never_issued(
    owner_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A random hex id with a card number's digits in it (this one is a Diners PAN) is drawn
    again: a key is shown to an operator and may reach a log, where it would be redacted."""
    card_like, plain = "f364549385444400", "0123abcd4567ef89"
    assert contains_pan(card_like) and not contains_pan(plain)
    drawn = iter([card_like, plain])
    monkeypatch.setattr(secrets, "token_hex", lambda _: next(drawn))
    issued = await merchants.create_key(owner_conn, _merchant())
    assert issued.key_id == plain
    assert not contains_pan(issued.api_key)


async def test_list_keys_per_merchant_and_all_without_the_hash(owner_conn: Any) -> None:
    first, second = _merchant(), _merchant()
    a = await merchants.create_key(owner_conn, first, label="a")
    b = await merchants.create_key(owner_conn, first)
    c = await merchants.create_key(owner_conn, second, label="c")
    assert await merchants.revoke_key(owner_conn, b.key_id)

    listed = await merchants.list_keys(owner_conn, first)
    assert [(k.key_id, k.merchant_id, k.label) for k in listed] == [
        (a.key_id, first, "a"),
        (b.key_id, first, None),
    ]
    assert listed[0].revoked_at is None and listed[1].revoked_at is not None
    assert listed[0].created_at <= listed[1].created_at

    everything = {k.key_id for k in await merchants.list_keys(owner_conn)}
    assert {a.key_id, b.key_id, c.key_id} <= everything
    assert await merchants.list_keys(owner_conn, _merchant()) == []
    assert {f.name for f in fields(merchants.KeyInfo)} == {
        "key_id",
        "merchant_id",
        "label",
        "created_at",
        "revoked_at",
    }


async def test_revoke_key_is_idempotent_and_reports_unknown_keys(
    owner_conn: Any, pg_admin: Any
) -> None:
    issued = await merchants.create_key(owner_conn, _merchant())
    assert await merchants.revoke_key(owner_conn, issued.key_id) is True
    first = await pg_admin.fetchval(
        "SELECT revoked_at FROM api_keys WHERE key_id = $1", issued.key_id
    )
    assert first is not None
    assert await merchants.revoke_key(owner_conn, issued.key_id) is True
    again = await pg_admin.fetchval(
        "SELECT revoked_at FROM api_keys WHERE key_id = $1", issued.key_id
    )
    assert again == first  # the first revocation time is kept
    assert await merchants.revoke_key(owner_conn, "0123456789abcdef") is False
    assert await merchants.revoke_key(owner_conn, "not-a-key-id") is False


@pytest.mark.parametrize("merchant_id", ["", "has space", "a/b", "x" * 65, "mérchant"])
async def test_invalid_merchant_ids_are_refused_by_the_function_and_the_table(
    owner_conn: Any, merchant_id: str
) -> None:
    with pytest.raises(ValueError, match="merchant id"):
        await merchants.create_key(owner_conn, merchant_id)
    with pytest.raises(asyncpg.CheckViolationError):
        await owner_conn.execute(
            "INSERT INTO api_keys (key_id, merchant_id, secret_sha256) VALUES ($1, $2, $3)",
            "0123456789abcdef",
            merchant_id,
            bytes(32),
        )


async def test_the_table_refuses_malformed_key_ids_and_digests(owner_conn: Any) -> None:
    insert = "INSERT INTO api_keys (key_id, merchant_id, secret_sha256) VALUES ($1, $2, $3)"
    with pytest.raises(asyncpg.CheckViolationError):
        await owner_conn.execute(insert, "0123456789ABCDEF", _merchant(), bytes(32))
    with pytest.raises(asyncpg.CheckViolationError):
        await owner_conn.execute(insert, uuid.uuid4().hex[:16], _merchant(), bytes(16))


# --- the application role ----------------------------------------------------------------------


async def test_app_role_reads_the_columns_verification_needs(
    owner_conn: Any, app_conn: Any
) -> None:
    issued = await merchants.create_key(owner_conn, _merchant(), label="secret-ish note")
    row = await app_conn.fetchrow(
        f"SELECT {', '.join(VERIFY_COLUMNS)} FROM api_keys WHERE key_id = $1", issued.key_id
    )
    assert row["merchant_id"] == issued.merchant_id
    secret = _secret(issued.api_key)
    assert bytes(row["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()


APP_REFUSED = {
    "select-label": "SELECT label FROM api_keys",
    "select-created-at": "SELECT created_at FROM api_keys",
    "select-star": "SELECT * FROM api_keys",
    "insert": (
        "INSERT INTO api_keys (key_id, merchant_id, secret_sha256) "
        "VALUES ('0123456789abcdef', 'intruder', '\\x00'::bytea)"
    ),
    "unrevoke": "UPDATE api_keys SET revoked_at = NULL",
    "revoke": "UPDATE api_keys SET revoked_at = now()",
    "move-merchant": "UPDATE api_keys SET merchant_id = 'intruder'",
    "delete": "DELETE FROM api_keys",
    "truncate": "TRUNCATE api_keys",
    "drop": "DROP TABLE api_keys",
}


@pytest.mark.parametrize("sql", list(APP_REFUSED.values()), ids=list(APP_REFUSED))
async def test_app_role_cannot_read_labels_or_write_keys(app_conn: Any, sql: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(sql)


async def test_grants_and_ownership_are_exactly_verify_only(
    pg_admin: Any, settings: Settings
) -> None:
    table = await pg_admin.fetch(
        "SELECT privilege_type FROM information_schema.role_table_grants "
        "WHERE grantee = $1 AND table_name = 'api_keys'",
        settings.db_user,
    )
    assert table == []
    columns = await pg_admin.fetch(
        "SELECT privilege_type, column_name FROM information_schema.column_privileges "
        "WHERE grantee = $1 AND table_name = 'api_keys'",
        settings.db_user,
    )
    assert {(r["privilege_type"], r["column_name"]) for r in columns} == {
        ("SELECT", c) for c in VERIFY_COLUMNS
    }
    owner = await pg_admin.fetchval(
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'api_keys'::regclass"
    )
    assert owner == "payment_owner"


# --- the command -------------------------------------------------------------------------------


def _command(
    env: dict[str, str], args: tuple[str, ...], unset: tuple[str, ...]
) -> subprocess.CompletedProcess[str]:
    """`python -m payment_app.merchants ...` as the one-off task runs it (the API's env)."""
    child_env = {**os.environ, **env, "PYTHONPATH": str(APP_DIR)}
    for name in unset:
        child_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "payment_app.merchants", *args],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _run(
    env: dict[str, str], *args: str, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_command, env, args, unset)


async def test_command_creates_lists_and_revokes(
    env: dict[str, str], base_settings: Settings, pg_admin: Any
) -> None:
    merchant = _merchant()
    operator = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    public_pem = (
        operator.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    created = await _run(
        env, "create-key", merchant, "--label", "ops: first key", "--encrypt-for", public_pem
    )
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1  # the encrypted key and nothing else, so it can be piped
    assert "pk_" not in created.stdout  # what reaches CloudWatch Logs on ECS is ciphertext
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    api_key = operator.decrypt(base64.b64decode(lines[0]), oaep).decode()
    secret = _secret(api_key)
    assert "cannot be shown again" in created.stderr
    assert secret not in created.stderr
    key_id = api_key[3:19]
    row = await pg_admin.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", key_id)
    assert row["merchant_id"] == merchant and row["label"] == "ops: first key"
    assert bytes(row["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()

    listed = await _run(env, "list-keys", merchant)
    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout and "secret_sha256" not in listed.stdout
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(e["key_id"], e["merchant_id"], e["label"], e["revoked_at"]) for e in entries] == [
        (key_id, merchant, "ops: first key", None)
    ]

    revoked = await _run(env, "revoke-key", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert await pg_admin.fetchval(
        "SELECT revoked_at IS NOT NULL FROM api_keys WHERE key_id = $1", key_id
    )
    after = await _run(env, "list-keys")
    assert after.returncode == 0, after.stderr
    ours = [e for e in map(json.loads, after.stdout.splitlines()) if e["key_id"] == key_id]
    assert len(ours) == 1 and ours[0]["revoked_at"] is not None


async def test_command_revoking_an_unknown_key_exits_1(
    env: dict[str, str], base_settings: Settings
) -> None:
    result = await _run(env, "revoke-key", "fedcba9876543210")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: no API key with key id 'fedcba9876543210'; nothing revoked"
    )


async def test_command_configuration_error_is_one_line(
    env: dict[str, str], base_settings: Settings
) -> None:
    result = await _run(env, "list-keys", unset=("DB_USER",))
    assert result.returncode == 1
    assert result.stderr.strip() == "configuration error: DB_USER is required but not set"
    assert result.stdout == ""


async def test_command_names_a_refused_master_login(
    env: dict[str, str], base_settings: Settings, kit: Any, identities: Any
) -> None:
    stale = kit.aws("secretsmanager").create_secret(
        Name=f"rds!stale-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps({"username": identities.master_user, "password": "rotated"}),
    )["ARN"]
    result = await _run({**env, "DB_MIGRATION_SECRET_ARN": stale}, "list-keys")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the database refused the master login 'payments_master'")
    assert "rotated" not in result.stderr


async def test_command_names_an_unreadable_master_secret(
    env: dict[str, str], base_settings: Settings
) -> None:
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!missing-AbCdEf"
    result = await _run({**env, "DB_MIGRATION_SECRET_ARN": missing}, "list-keys")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: cannot read DB_MIGRATION_SECRET_ARN ({missing}): ResourceNotFoundException"
    )


def _migrate_to(settings: Settings, master: MasterCredentials, target: str, down: bool) -> None:
    config = migrate.alembic_config(settings)
    config.attributes[migrate.MASTER_ATTRIBUTE] = master
    (command.downgrade if down else command.upgrade)(config, target)


async def test_revision_0003_downgrades_and_upgrades_cleanly(
    postgres_server: Any, base_settings: Settings, identities: Any
) -> None:
    """0002 -> 0003 -> 0002 -> 0003 on a fresh database: the table and its grant come and go."""
    name = f"keys_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    settings = replace(base_settings, db_name=name)
    master = MasterCredentials(identities.master_user, identities.master_password)
    admin = await postgres_server.admin_connect(name)
    exists = "SELECT to_regclass('api_keys') IS NOT NULL"
    try:
        await asyncio.to_thread(_migrate_to, settings, master, "0003", False)
        assert await admin.fetchval(exists)
        assert await admin.fetchval(
            "SELECT has_column_privilege($1, 'api_keys', 'secret_sha256', 'SELECT')",
            settings.db_user,
        )
        await asyncio.to_thread(_migrate_to, settings, master, "0002", True)
        assert not await admin.fetchval(exists)
        assert await admin.fetchval("SELECT version_num FROM alembic_version") == "0002"
        await asyncio.to_thread(_migrate_to, settings, master, "0003", False)
        assert await admin.fetchval(exists)
    finally:
        await admin.close()
        postgres_server.psql(f"DROP DATABASE {name}")


async def test_command_never_prints_a_plain_key_where_it_may_be_logged(
    env: dict[str, str], base_settings: Settings, pg_admin: Any
) -> None:
    """stdout is a pipe here, as on ECS: without --encrypt-for nothing is issued or printed."""
    merchant = _merchant()
    refused = await _run(env, "create-key", merchant)
    assert refused.returncode == 1
    assert "--encrypt-for" in refused.stderr and "pk_" not in refused.stdout + refused.stderr
    assert not await pg_admin.fetchval(
        "SELECT count(*) FROM api_keys WHERE merchant_id = $1", merchant
    )
    weak = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = weak.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    too_weak = await _run(env, "create-key", merchant, "--encrypt-for", pem)
    assert too_weak.returncode == 1 and ">= 3072 bits" in too_weak.stderr
