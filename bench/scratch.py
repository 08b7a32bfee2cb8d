"""What the benchmarks share: a scratch database on each back end, a free local port, and the
`ketaclinic` command run against a database."""

import os
import socket
import subprocess
import sys
import uuid

import psycopg
from sqlalchemy import make_url


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(url: str, *args: str) -> str:
    """Run a `ketaclinic` command against the database (demo mode); what it printed."""
    env = {**os.environ, "KETACLINIC_DATABASE_URL": url, "KETACLINIC_DEMO": "1"}
    return subprocess.run([sys.executable, "-m", "ketaclinic.cli", *args], env=env, check=True,
                          capture_output=True, text=True).stdout


def fresh_database(backend: str, postgres: str, folder: str) -> str:
    """The URL of a new, empty database: a SQLite file in the folder, or a PostgreSQL database
    created beside the one `postgres` names."""
    if backend == "sqlite":
        return f"sqlite:///{folder}/bench-{uuid.uuid4().hex[:6]}.db"
    name = f"ketaclinic_bench_{uuid.uuid4().hex[:8]}"
    base = make_url(postgres)
    with psycopg.connect(base.set(drivername="postgresql").render_as_string(False),
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(False)


def drop_database(url: str, postgres: str) -> None:
    """Drop a PostgreSQL database made by `fresh_database`."""
    admin = make_url(postgres).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
