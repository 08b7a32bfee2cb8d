"""Benchmark: importing the Synthea bundles into the clinic against only parsing and validating
the same bundles with fhir.resources (R4B), measured in the same run, on SQLite and (with
--postgres) PostgreSQL.

    python bench/fhir_import.py [--folder examples/synthea] [--repeat 1]
                                [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import migrate
from ketaclinic.clinics import service as clinics
from ketaclinic.clinics.models import Site
from ketaclinic.db import make_engine
from ketaclinic.fhir.importer import import_bundle
from ketaclinic.kernel.actor import Actor

DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / "examples" / "synthea"


def parse_and_validate(texts: list[bytes]) -> float:
    """Seconds to parse and validate every bundle (the baseline)."""
    started = time.perf_counter()
    for text in texts:
        Bundle.model_validate(json.loads(text))
    return time.perf_counter() - started


def import_all(url: str, texts: list[bytes]) -> float:
    """Seconds to import every bundle into a fresh clinic, one transaction per bundle."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    system = Actor(username="bench", role="system")
    with Session(engine) as db:
        clinics.create_site(db=db, code="BEN", name="Bench", address="", time_zone="UTC",
                            chairs=1, network_name="Bench", actor=system)
        db.commit()
        actor = Actor(username="bench", role="system",
                      site_pks=frozenset(db.execute(select(Site.pk)).scalars()))
    started = time.perf_counter()
    for text in texts:
        with Session(engine) as db:
            import_bundle(db=db, bundle=json.loads(text), site="BEN", actor=actor)
            db.commit()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def main() -> int:
    """Print resources per second for import and for parse-and-validate, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--postgres", default=os.environ.get("KETACLINIC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    os.environ.setdefault("KETACLINIC_DEMO", "1")  # the demo's key seals the audit rows written here
    files = sorted(args.folder.glob("*.json")) if args.folder.is_dir() else []
    if not files:
        print(f"error: --folder: no .json bundles in {args.folder}", file=sys.stderr)
        return 2
    texts = [f.read_bytes() for f in files]
    resources = sum(len(json.loads(t).get("entry") or []) for t in texts)
    baseline = parse_and_validate(texts)
    targets = []
    with tempfile.TemporaryDirectory() as folder:
        targets.append(("sqlite", import_all(f"sqlite:///{folder}/import.db", texts)))
    if args.postgres:
        name = f"ketaclinic_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            targets.append(("postgresql", import_all(args.postgres.rsplit("/", 1)[0] + f"/{name}",
                                                     texts)))
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{len(files)} bundles, {resources} resources")
    print(f"  parse + validate (fhir.resources R4B): {resources / baseline:9.0f} resources/s")
    for backend, seconds in targets:
        print(f"  import into {backend:10s} (validate + map + store): {resources / seconds:9.0f} "
              f"resources/s  ratio to parse + validate {baseline / seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
