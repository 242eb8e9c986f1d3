"""Alembic migration scripts, shipped inside the package so the image carries them."""
