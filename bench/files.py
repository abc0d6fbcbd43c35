#!/usr/bin/env python3
"""Deploys N files locally with the release build of batou-run and prints
a table: the first run (creates everything) and a no-change run, wall time
and the runner's peak memory.

    python3 bench/files.py            # N = 100, 1000, 5000
    python3 bench/files.py 1000       # one size
    BENCH_DIR=/dev/shm python3 bench/files.py   # deploy into a tmpfs

The first run creates 2N inodes (a temporary file renamed over each
target), so on a disk file system it also measures how fast the kernel
allocates inodes; BENCH_DIR on a tmpfs takes that out.

Each file is a root of the standard `file` kind configured only in TOML,
so every run configures, plans, verifies (and the first run updates) N
file components with their `presence` and `content` sub-components.
The compiled-module cache is warmed first: these numbers are deploys, not
compiles.
"""

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "batou-run")


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "batou-run"], cwd=ROOT, check=True)


def deployment(n, cache):
    d = tempfile.mkdtemp(prefix=f"batou-bench-{n}-", dir=os.environ.get("BENCH_DIR"))
    os.makedirs(os.path.join(d, "environments"))
    names = [f"f{i}" for i in range(n)]
    with open(os.path.join(d, "environments", "bench.toml"), "w") as env:
        env.write('[environment]\nconnect = "local"\n\n[hosts.localhost]\n')
        env.write("components = [%s]\n\n" % ", ".join(f'"{x}"' for x in names))
        for x in names:
            env.write(f'[components.{x}]\nkind = "file"\npath = "{x}.txt"\n')
            env.write(f'content = "file {x} on {{{{ host.name }}}}\\n"\n\n')
    return d




def measured(d, cache):
    code = (
        "import resource,subprocess,sys,time,os\n"
        "t=time.perf_counter()\n"
        "p=subprocess.run(sys.argv[1:],capture_output=True)\n"
        "w=time.perf_counter()-t\n"
        "assert p.returncode==0,(p.stdout[-2000:],p.stderr[-2000:])\n"
        "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024)\n"
    )
    env = dict(os.environ, BATOU_RUN_CACHE=cache)
    out = subprocess.run(
        [sys.executable, "-c", code, BINARY, "deploy", "bench", "--deployment", d],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 5000]
    build()
    cache = tempfile.mkdtemp(prefix="batou-bench-cache-")
    where = os.environ.get("BENCH_DIR") or tempfile.gettempdir()
    fs = subprocess.run(["stat", "-f", "-c", "%T", where], capture_output=True, text=True).stdout.strip()
    print(f"deploying into {where} ({fs}), {os.cpu_count()} cores")
    measured(deployment(1, cache), cache)  # compile the standard library once
    print(f"{'files':>6} | {'first run':>10} | {'peak MiB':>8} | {'no change':>10} | {'peak MiB':>8}")
    print(f"{'-' * 6}-+-{'-' * 10}-+-{'-' * 8}-+-{'-' * 10}-+-{'-' * 8}")
    for n in sizes:
        d = deployment(n, cache)
        first, first_mem = measured(d, cache)
        again, again_mem = measured(d, cache)
        print(f"{n:>6} | {first:>9.3f}s | {first_mem:>8.1f} | {again:>9.3f}s | {again_mem:>8.1f}")


if __name__ == "__main__":
    main()
