#!/usr/bin/env python3
"""Deploys to many hosts behind a delay proxy and prints a table: how long
a no-change deploy takes on 1 host and on HOSTS hosts (with enough jobs
and with fewer), what the controller's peak memory is and how it grows
per host, and how long the first deploy of a new agent version to every
host takes against the time to upload the agent alone.

    python3 bench/hosts.py                  # 100 hosts, 20 ms RTT
    HOSTS=50 RTT_MS=40 python3 bench/hosts.py

All hosts are one real OpenSSH sshd on 127.0.0.1, reached through one
delay proxy (bench/remote.py's: every chunk is forwarded RTT/2 later in
each direction, so a deploy pays the round trips it makes). Each host has
roots of its own (ROOTS per host, default 5: `hNNN-fK`, a file each), so
no two hosts deploy the same thing. They log in as one user, so they share
the agent on the "host": the agent row removes it before its run, and
every host then finds it missing at once and uploads it, as 100 new hosts
would.

The upload floor is OpenSSH's own client sending the gzipped agent to
every host at once through the same proxy (`ssh host 'cat > /dev/null'`,
as many at a time as the deploy has jobs), with a connection each: what
any tool must pay to put those bytes there.

Peak memory is the controller's maximum resident set (`ru_maxrss` of the
process), for no-change deploys of 1, HOSTS/4, HOSTS/2 and HOSTS hosts;
the growth per host is the slope between the first and the last.

Needs root (the user `batou-bench`, sshd on 127.0.0.1), as bench/remote.py.
"""

import gzip
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import remote  # noqa: E402

BINARY = remote.BINARY
HOSTS = int(os.environ.get("HOSTS", "100"))
ROOTS = int(os.environ.get("ROOTS", "5"))
RTT_MS = int(os.environ.get("RTT_MS", "20"))
REPEAT = int(os.environ.get("REPEAT", "3"))


def deployment(work, hosts, port, client_key, known_hosts):
    d = tempfile.mkdtemp(prefix=f"hosts-{hosts}-", dir=work)
    os.makedirs(os.path.join(d, "environments"))
    with open(os.path.join(d, "environments", "bench.toml"), "w") as env:
        env.write('[environment]\nconnect = "ssh"\n')
        env.write(f'identity_file = "{client_key}"\nknown_hosts = "{known_hosts}"\n')
        env.write(f'target_directory = "~/bench-{os.path.basename(d)}"\n\n')
        for h in range(hosts):
            names = [f"h{h:03d}-f{k}" for k in range(ROOTS)]
            env.write(f'[hosts.h{h:03d}]\naddress = "127.0.0.1"\nport = {port}\nuser = "{remote.USER}"\n')
            env.write("components = [%s]\n\n" % ", ".join(f'"{x}"' for x in names))
            for x in names:
                env.write(f'[components."{x}"]\nkind = "file"\npath = "{x}.txt"\ncontent = "file {x}\\n"\n\n')
    return d


def cpu_of_children(pid):
    """CPU seconds of the processes `pid` has waited for (sshd: its
    sessions, and so the agents they ran)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def measured(d, cache, jobs, sshd):
    """Median wall time of REPEAT runs; the largest peak memory (KiB) and
    the median CPU seconds of the controller; the median CPU seconds the
    hosts' side (sshd and the agents) spent."""
    walls, peaks, cpus, remote_cpus = [], [], [], []
    stats = os.path.join(tempfile.gettempdir(), f"batou-hosts-bench-{os.getpid()}.time")
    for _ in range(REPEAT):
        # /usr/bin/time reports the deploy's own peak memory (a process
        # forked from this script would count this script's pages too).
        args = ["/usr/bin/time", "-f", "%M %U %S", "-o", stats, BINARY, "deploy", "bench", "--deployment", d,
                "-j", str(jobs)]
        remote_before = cpu_of_children(sshd.pid)
        start = time.perf_counter()
        p = subprocess.run(args, env=dict(os.environ, BATOU_RUN_CACHE=cache), capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        if p.returncode != 0:
            sys.exit(f"deploy failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        time.sleep(0.3)  # sshd reaps its last sessions
        remote_cpus.append(cpu_of_children(sshd.pid) - remote_before)
        with open(stats) as f:
            rss, user, system = f.read().split()[-3:]
        peaks.append(int(rss))
        cpus.append(float(user) + float(system))
    os.remove(stats)
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return median(walls), max(peaks), median(cpus), median(remote_cpus)


def quiet(d, cache, jobs):
    """A deploy whose output is not wanted (the first run of a deployment)."""
    p = subprocess.run([BINARY, "deploy", "bench", "--deployment", d, "-j", str(jobs)],
                       env=dict(os.environ, BATOU_RUN_CACHE=cache), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"deploy failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


def agent_binary(cache):
    """The x86_64 agent the deploys send, gzipped as they send it."""
    for dirpath, _, files in os.walk(os.path.join(cache, "agents")):
        if "batou-run" in files and "x86_64" in dirpath:
            with open(os.path.join(dirpath, "batou-run"), "rb") as f:
                return gzip.compress(f.read(), 6)
    sys.exit("no x86_64 agent in the cache")


def upload_floor(work, port, client_key, known_hosts, hosts, jobs, payload, command="cat > /dev/null"):
    """OpenSSH sending `payload` to `hosts` hosts, `jobs` at a time, into
    `command` there."""
    blob = os.path.join(work, "agent.gz")
    with open(blob, "wb") as f:
        f.write(payload)
    ssh = ["ssh", "-i", client_key, "-o", f"UserKnownHostsFile={known_hosts}", "-o", "BatchMode=yes",
           "-p", str(port), f"{remote.USER}@127.0.0.1", command]
    start = time.perf_counter()
    pending = list(range(hosts))
    running = []
    while pending or running:
        while pending and len(running) < jobs:
            pending.pop()
            running.append(subprocess.Popen(ssh, stdin=open(blob, "rb")))
        running[0].wait()
        if running[0].returncode != 0:
            sys.exit("ssh upload failed")
        running.pop(0)
    return time.perf_counter() - start


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "batou-run"], cwd=remote.ROOT, check=True)
    user = remote.ensure_user()
    work = tempfile.mkdtemp(prefix="batou-hosts-bench-")
    os.chmod(work, 0o755)
    sshd, port, client_key, host_pub = remote.start_sshd(work, user, extra="MaxStartups 1000\nMaxSessions 1000\n")
    cache = os.path.join(work, "cache")
    try:
        agents = subprocess.run([BINARY, "agents"], env=dict(os.environ, BATOU_RUN_CACHE=cache),
                                capture_output=True, text=True)
        if agents.returncode != 0:
            sys.exit(f"no agent:\n{agents.stderr[-3000:]}")
        proxy = remote.DelayProxy(port, RTT_MS / 2000.0)
        known_hosts = os.path.join(work, "known_hosts")
        with open(known_hosts, "w") as f:
            f.write(f"[127.0.0.1]:{proxy.port} {host_pub}\n")
        version = subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        print(f"{version}; {HOSTS} hosts x {ROOTS} file roots; {RTT_MS} ms RTT (delay proxy); "
              f"median of {REPEAT}; {os.cpu_count()} cores\n")

        # The first deploy of a new agent version: no host has it.
        d = deployment(work, HOSTS, proxy.port, client_key, known_hosts)
        quiet(deployment(work, 1, proxy.port, client_key, known_hosts), cache, 1)  # modules compiled on the host
        remote_cache = os.path.join(user.pw_dir, ".cache", "batou-run")
        for name in os.listdir(remote_cache):
            if name.startswith("batou-run-"):
                os.remove(os.path.join(remote_cache, name))
        start = time.perf_counter()
        quiet(d, cache, HOSTS)
        first_agent = time.perf_counter() - start
        payload = agent_binary(cache)
        floor = upload_floor(work, proxy.port, client_key, known_hosts, HOSTS, HOSTS, payload)
        # What the host must do with it too: unpack it and check its sha256.
        unpacked = upload_floor(work, proxy.port, client_key, known_hosts, HOSTS, HOSTS, payload,
                                "gzip -dc | sha256sum > /dev/null")

        rows = []
        for hosts, jobs in [(1, 1), (HOSTS // 4, HOSTS), (HOSTS // 2, HOSTS), (HOSTS, HOSTS), (HOSTS, 10)]:
            dd = d if hosts == HOSTS else deployment(work, hosts, proxy.port, client_key, known_hosts)
            if dd is not d:
                quiet(dd, cache, jobs)
            rows.append((hosts, jobs) + measured(dd, cache, jobs, sshd))

        one = rows[0][2]
        cores = os.cpu_count()
        print("The hosts' side (sshd's sessions and the agents) runs on this machine's cores too: a deploy")
        print("cannot end before all CPU spent on both sides, divided by the cores, has been spent.\n")
        print("| hosts | jobs | no-change deploy | extra over 1 host | in RTTs | controller CPU | hosts' CPU "
              "| CPU-bound floor | controller peak memory |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for hosts, jobs, wall, peak, cpu, remote_cpu in rows:
            extra = wall - one
            print(f"| {hosts} | {jobs} | {wall:.3f} s | {extra:+.3f} s | {extra * 1000 / RTT_MS:+.1f} | "
                  f"{cpu:.2f} s | {remote_cpu:.2f} s | {(cpu + remote_cpu) / cores:.2f} s | {peak / 1024:.1f} MiB |")
        (h0, _, _, m0, c0, r0), (h1, _, _, m1, c1, r1) = rows[0], rows[3]
        print(f"\nper host: controller CPU {(c1 - c0) / (h1 - h0) * 1000:.1f} ms, hosts' side CPU "
              f"{(r1 - r0) / (h1 - h0) * 1000:.1f} ms")
        print(f"\npeak memory grows by {(m1 - m0) / (h1 - h0):.0f} KiB per host ({h0} to {h1} hosts)")
        print(f"\nfirst deploy of a new agent version to {HOSTS} hosts (-j {HOSTS}): {first_agent:.2f} s")
        print(f"OpenSSH sending the {len(payload)} gzipped bytes to {HOSTS} hosts at once: {floor:.2f} s "
              f"(the deploy takes {first_agent / floor:.2f}x that)")
        print(f"... and each host unpacking them and checking their sha256 (`gzip -dc | sha256sum`): "
              f"{unpacked:.2f} s (the deploy takes {first_agent / unpacked:.2f}x that)")
    finally:
        remote.clean_up(sshd, work, user, "bench-hosts-")


if __name__ == "__main__":
    main()
