"""Liveness and readiness probes for the load balancer and the ECS task health check."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from payment_app import db
from payment_app.api.deps import CacheDep, PoolDep

router = APIRouter()


async def _check(probe: Awaitable[None]) -> str:
    """Return "ok" or the error type alone: the probe is unauthenticated, messages stay out."""
    try:
        await asyncio.wait_for(probe, timeout=2.0)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


# The two docstrings below are the OpenAPI descriptions of the probes.
@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness only: never touches dependencies, so a DB blip does not kill tasks."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(pool: PoolDep, cache: CacheDep) -> JSONResponse:
    """Readiness: database and cache must both answer within a short timeout."""
    database, redis_state = await asyncio.gather(_check(db.ping(pool)), _check(cache.ping()))
    ok = database == "ok" and redis_state == "ok"
    return JSONResponse(
        {
            "status": "ready" if ok else "not_ready",
            "checks": {"database": database, "cache": redis_state},
        },
        status_code=200 if ok else 503,
    )
