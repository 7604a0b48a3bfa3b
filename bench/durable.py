"""Durable stores: gear serve --store sqlite: / postgresql:// against C gearmand -q libsqlite3.

Usage::

    python bench/durable.py [-r 5] [--stores sqlite,postgresql]

For each store, runs ``compare.py`` (../shared/bench) with C gearmand 1.1.x
``-t 1 -q libsqlite3`` as the reference and ``gear serve --store …`` (this
interpreter's build) as the candidate, scenarios bg_submit and bg_drain
(gearbench: 4 clients x 32 SUBMIT_JOB_BG in flight, 64-byte jobs, 50,000 or
8 s, then 4 workers drain them), ``-r`` pairs, A B A B.  Both keep their
files in compare.py's temporary directory (removed afterwards).  For
``postgresql`` a throw-away PostgreSQL cluster (Debian's binaries, fsync on)
is started on a free port for the run and removed afterwards.  Prints
compare.py's tables, then one summary line per store.  About 2 minutes per
store with ``-r 5``; 127.0.0.1 only.

The crash test (kill -9 mid-stream, 0 acknowledged jobs lost) is another
command: ``python -m pytest tests/store/test_crash.py -s -q``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, free_port, gearmand_present, load_average, postgres_bindir  # sibling

REF = (
    "/usr/sbin/gearmand -L 127.0.0.1 -p {port} -l stderr -t 1 -P {tmp}/g.pid "
    "-q libsqlite3 --libsqlite3-db {tmp}/q.db"
)


def compare_py() -> str:
    for up in (1, 2, 3):
        path = os.path.join(HERE, *[".."] * up, "shared", "bench", "compare.py")
        if os.path.exists(path):
            return os.path.abspath(path)
    raise SystemExit("compare.py not found (../shared/bench)")


def as_cluster_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as nobody then."""
    return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster; yields the URL of its ``bench`` database."""
    bindir = postgres_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL not found (/usr/lib/postgresql/*/bin)")
    base = tempfile.mkdtemp(prefix="gear-bench-pg-")
    if os.geteuid() == 0:
        shutil.chown(base, "nobody")
    data, port = os.path.join(base, "data"), free_port()
    pg_ctl = os.path.join(bindir, "pg_ctl")
    try:
        initdb = [os.path.join(bindir, "initdb"), "-D", data, "-U", "gear", "--auth=trust"]
        subprocess.run(as_cluster_user([*initdb, "-E", "UTF8"]), check=True, capture_output=True)
        opts = f"-h 127.0.0.1 -p {port} -k {base} -c max_connections=50"
        start = [pg_ctl, "-D", data, "-l", os.path.join(base, "log"), "-w", "-o", opts, "start"]
        subprocess.run(as_cluster_user(start), check=True, capture_output=True)
        psql = [os.path.join(bindir, "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "gear"]
        create = [*psql, "-d", "postgres", "-qc", "create database bench"]
        subprocess.run(as_cluster_user(create), check=True, capture_output=True)
        yield f"postgresql://gear@127.0.0.1:{port}/bench"
    finally:
        stop = [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"]
        subprocess.run(as_cluster_user(stop), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def run_compare(store: str, repeat: int) -> str:
    """compare.py for one store URL; its last line (``ratio bg_submit=… bg_drain=…``)."""
    gear = f"{sys.executable} -m gear serve --listen 127.0.0.1 --port {{port}} --store {store}"
    argv = [sys.executable, compare_py(), "--cmd", gear, "--ref-cmd", REF]
    argv += ["-S", "bg_submit,bg_drain", "-r", str(repeat)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    print(out.stdout.rstrip())
    if out.returncode:
        raise SystemExit(f"compare.py failed: {out.stderr.strip()[-500:]}")
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-r", "--repeat", type=int, default=5)
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    if not gearmand_present():
        raise SystemExit("C gearmand not found: apt-get install gearman-job-server")
    summary = []
    print(f"load average before: {load_average()}")
    for store in args.stores.split(","):
        print(f"\n--store {store}:")
        if store == "sqlite":
            summary.append(f"sqlite: {run_compare('sqlite:{tmp}/q-{port}.db', args.repeat)}")
        elif store == "postgresql":
            with postgres() as url:
                summary.append(f"postgresql: {run_compare(url, args.repeat)}")
        else:
            raise SystemExit(f"unknown store {store!r}: sqlite or postgresql")
    print(f"\nload average after: {load_average()}")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
