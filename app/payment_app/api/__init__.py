"""FastAPI application: accepts payments, reports their status, exposes health checks."""

from payment_app.api.app import create_app

__all__ = ["create_app"]
