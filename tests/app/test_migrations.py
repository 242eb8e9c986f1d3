"""Migrations are safe when several tasks run them at the same moment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from payment_app import migrate
from payment_app.config import Settings

APP_DIR = Path(__file__).resolve().parents[2] / "app"


@pytest.mark.asyncio
async def test_concurrent_upgrades_serialise(
    postgres_server: Any, base_settings: Settings, env: dict[str, str]
) -> None:
    """Four processes (as four tasks starting together) upgrade one fresh database, each reading
    the master secret from Secrets Manager and setting up the roles under the lock."""
    name = f"mig_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    child_env = {**os.environ, **env, "DB_NAME": name, "PYTHONPATH": str(APP_DIR)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "payment_app.migrate"],
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[0].decode()[-2000:] for o in outputs]
    conn = await postgres_server.admin_connect(name)
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == (
            migrate.head_revision()
        )
        assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
        assert await conn.fetchval("SELECT to_regclass('payments') IS NOT NULL")
        owners = await conn.fetch(
            "SELECT relname, pg_get_userbyid(relowner) AS owner FROM pg_class "
            "WHERE relname IN ('payments', 'alembic_version')"
        )
        assert {r["relname"]: r["owner"] for r in owners} == {
            "payments": "payment_owner",
            "alembic_version": "payment_owner",
        }
        assert await conn.fetchval(
            "SELECT has_table_privilege($1, 'payments', 'SELECT')", base_settings.db_user
        )
    finally:
        await conn.close()
