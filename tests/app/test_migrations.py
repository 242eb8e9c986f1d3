"""Migrations are safe when several tasks run them at the same moment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from payment_app.config import Settings

APP_DIR = Path(__file__).resolve().parents[2] / "app"


@pytest.mark.asyncio
async def test_concurrent_upgrades_serialise(
    postgres_server: Any, base_settings: Settings, env: dict[str, str]
) -> None:
    """Four processes (as four tasks starting together) upgrade one fresh database."""
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
    conn = await asyncpg.connect(
        host=base_settings.db_host,
        port=base_settings.db_port,
        user=base_settings.db_user,
        password=base_settings.db_password,
        database=name,
    )
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == "0001"
        assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
        assert await conn.fetchval("SELECT to_regclass('payments') IS NOT NULL")
    finally:
        await conn.close()
