"""Time generate_data on PostgreSQL in a scratch database and print sessions/s.

    python bench/generate.py [--tutors 10000] [--sessions 1000000] [--database NAME --keep --scores]

Creates `tutorscore_bench_generate` (or --database NAME; dropped afterwards unless --keep) on the
server named by BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432), migrates it, then
runs `generate_data --no-scores` (scoring has its own benchmark, bench/recompute.py). With
--scores it scores every tutor too, as a data set to serve (bench/api.py) needs.
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = "tutorscore_bench_generate"


def psql(server, sql):
    subprocess.run(["psql", f"{server}/postgres", "-qc", sql], check=True, capture_output=True)


def manage(database_url, *args):
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "true"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tutors", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database", default=SCRATCH, help="Database to (re)create; dropped unless --keep.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--scores", action="store_true", help="Score every tutor after loading.")
    args = parser.parse_args()

    server = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    database_url = f"{server}/{args.database}"
    psql(server, f"DROP DATABASE IF EXISTS {args.database}")
    psql(server, f"CREATE DATABASE {args.database}")
    try:
        manage(database_url, "migrate", "--noinput", "-v0")
        load = os.getloadavg()[0]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = manage(
            database_url,
            "generate_data",
            f"--tutors={args.tutors}",
            f"--sessions={args.sessions}",
            f"--days={args.days}",
            f"--seed={args.seed}",
            *([] if args.scores else ["--no-scores"]),
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    finally:
        if not args.keep:
            psql(server, f"DROP DATABASE IF EXISTS {args.database}")
    inner = re.search(r"Done in ([\d.]+) s", result.stdout)
    generate_seconds = float(inner.group(1)) if inner else wall
    print(f"generate_data: {args.tutors:,} tutors, {args.sessions:,} sessions on PostgreSQL")
    print(
        f"  generation + load: {generate_seconds:.1f} s  ({args.sessions / generate_seconds:,.0f} sessions/s)"
    )
    print(f"  whole command (incl. Django start-up): {wall:.1f} s")
    # The machine is shared: a wall time far above the CPU time means other work was running.
    print(f"  CPU of the generate_data process: {cpu:.1f} s (load average {load:.1f} when it started)")
    off = [line for line in result.stdout.splitlines() if "[OFF]" in line]
    print("  validation: all distributions within tolerance" if not off else "\n".join(off))


if __name__ == "__main__":
    main()
