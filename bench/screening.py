"""Benchmark: screening generated patients' records, against just loading those records.

Both are measured in the same run over the same records: the baseline turns each FHIR
bundle into a PatientRecord; the measured work does that and screens it. The script
prints patients per second and the ratio of the two times.

    python bench/screening.py [--patients 10000] [--route iv] [--repeat 3]
"""

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime

from rich.progress import Progress

from ketaclinic.demo.fhir import spec_to_bundle
from ketaclinic.demo.generator import generate
from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.screening import ROUTES, screen

SEED = 10_000


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--route", choices=ROUTES, default="iv")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; the median is reported")
    args = parser.parse_args()
    os.environ.setdefault("KETACLINIC_DEMO", "1")  # the demo's key seals the audit rows written here
    if args.patients < 1 or args.repeat < 1:
        print("error: --patients and --repeat must be at least 1", file=sys.stderr)
        return 2
    now = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    with Progress(transient=True) as progress:
        task = progress.add_task("generating records", total=args.patients)
        bundles = []
        for number, spec in enumerate(generate(args.patients, SEED, now.date(), now), start=1):
            # Round-trip through JSON text so the records are plain parsed data, as from a file.
            bundles.append(json.loads(json.dumps(spec_to_bundle(spec, number))))
            progress.update(task, advance=1)
    load_times, screen_times = [], []
    decisions: Counter[str] = Counter()
    for _ in range(args.repeat):
        started = time.perf_counter()
        records = [record_from_bundle(b) for b in bundles]
        load_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        results = [screen(record_from_bundle(b), route=args.route, on=now.date()) for b in bundles]
        screen_times.append(time.perf_counter() - started)
        decisions = Counter(r.decision for r in results)
        del records
    load, total = statistics.median(load_times), statistics.median(screen_times)
    resources = sum(len(b["entry"]) for b in bundles)
    print(f"patients: {args.patients} ({resources} FHIR resources), route {args.route}, "
          f"median of {args.repeat} rounds")
    print(f"load only:        {load:8.3f} s  {args.patients / load:10.0f} patients/s")
    print(f"load + screening: {total:8.3f} s  {args.patients / total:10.0f} patients/s")
    print(f"ratio (load + screening) / load: {total / load:.2f}")
    print("decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
