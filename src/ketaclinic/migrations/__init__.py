"""Alembic migrations; run with `ketaclinic db upgrade`."""
