#!/usr/bin/env python3
"""Deploys N files to one host over SSH and prints a table: the first run
(agent and modules uploaded, everything created) and a no-change run, over
loopback and through a delay proxy that adds latency to every packet.

    python3 bench/remote.py                 # N = 100, 1000; RTT 0 and 20 ms
    python3 bench/remote.py 1000            # one size
    RTT_MS=40 python3 bench/remote.py       # another round trip time

The static agent is found or built before any row (`batou-run agents`,
not timed) and its upload is measured on its own: a first deploy of one
file to a host without the agent, against one to a host that has it. The
modules travel in the very first run only (the cache is shared by all
rows); every later first run creates N files.

Needs root (it creates the user `batou-bench` and starts a real OpenSSH
sshd on 127.0.0.1) and Debian's openssh-server. The delay proxy is this
script: it forwards each chunk after RTT/2 in each direction, in order, so
a deploy pays the round trips it makes.
"""

import asyncio
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "batou-run")
USER = "batou-bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_user():
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-p", "*", USER], check=True)
    return pwd.getpwnam(USER)


def start_sshd(work, user, extra=""):
    os.makedirs("/run/sshd", exist_ok=True)
    host_key = os.path.join(work, "host_key")
    client_key = os.path.join(work, "client_key")
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    keys_dir = os.path.join(work, "authorized")
    os.makedirs(keys_dir, mode=0o755)
    authorized = os.path.join(keys_dir, "keys")
    shutil.copy(client_key + ".pub", authorized)
    os.chmod(authorized, 0o644)
    port = free_port()
    config = os.path.join(work, "sshd_config")
    with open(config, "w") as f:
        f.write(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nUsePAM no\n"
            f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\nPidFile none\n"
            f"AllowUsers {USER}\nStrictModes no\nLogLevel ERROR\n{extra}"
        )
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    with open(host_key + ".pub") as f:
        host_pub = " ".join(f.read().split()[:2])
    return sshd, port, client_key, host_pub


class DelayProxy:
    """Forwards 127.0.0.1:port to target_port, each chunk after `delay` s."""

    def __init__(self, target_port, delay):
        self.target_port, self.delay = target_port, delay
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        time.sleep(0.2)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        self.loop.run_until_complete(server.serve_forever())

    async def _client(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader, writer):
        queue = asyncio.Queue()

        async def send():
            while True:
                due, data = await queue.get()
                if data is None:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        while True:
            data = await reader.read(1 << 16)
            await queue.put((time.monotonic() + self.delay, data or None))
            if not data:
                break
        await sender


def clean_up(sshd, work, user, prefix):
    """Stops sshd and removes the work folder and the deployments' target
    folders (`~/<prefix>...` of the bench user)."""
    sshd.terminate()
    shutil.rmtree(work, ignore_errors=True)
    for name in os.listdir(user.pw_dir):
        if name.startswith(prefix):
            shutil.rmtree(os.path.join(user.pw_dir, name), ignore_errors=True)


def deployment(work, n, port, client_key, known_hosts):
    d = tempfile.mkdtemp(prefix=f"deploy-{n}-", dir=work)
    os.makedirs(os.path.join(d, "environments"))
    names = [f"f{i}" for i in range(n)]
    with open(os.path.join(d, "environments", "bench.toml"), "w") as env:
        env.write('[environment]\nconnect = "ssh"\n')
        env.write(f'identity_file = "{client_key}"\nknown_hosts = "{known_hosts}"\n')
        env.write(f'target_directory = "~/bench-{os.path.basename(d)}"\n\n')
        env.write(f'[hosts.remote]\naddress = "127.0.0.1"\nport = {port}\nuser = "{USER}"\n')
        env.write("components = [%s]\n\n" % ", ".join(f'"{x}"' for x in names))
        for x in names:
            env.write(f'[components.{x}]\nkind = "file"\npath = "{x}.txt"\ncontent = "file {x}\\n"\n\n')
    return d


def timed(d, cache, json_summary=False):
    env = dict(os.environ, BATOU_RUN_CACHE=cache)
    args = [BINARY, "deploy", "bench", "--deployment", d] + (["--json"] if json_summary else [])
    start = time.perf_counter()
    p = subprocess.run(args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"deploy failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    if json_summary:
        return wall, json.loads(p.stdout.strip().splitlines()[-1])
    return wall


def agent_upload(work, port, client_key, known_hosts, cache, user):
    """The agent's upload: a first deploy of one file to a host without the
    agent, then (a new deployment, so its file is new too) with it. A
    deploy before them puts the modules on the host, compiled; then only
    the agent binary is removed from the host's cache."""
    timed(deployment(work, 1, port, client_key, known_hosts), cache)
    remote_cache = os.path.join(user.pw_dir, ".cache", "batou-run")
    for name in os.listdir(remote_cache):
        if name.startswith("batou-run-"):
            os.remove(os.path.join(remote_cache, name))
    without, summary = timed(deployment(work, 1, port, client_key, known_hosts), cache, json_summary=True)
    sent = summary["uploaded"]["agent_bytes"]
    assert sent > 0, summary
    with_agent, summary = timed(deployment(work, 1, port, client_key, known_hosts), cache, json_summary=True)
    assert summary["uploaded"]["agent_bytes"] == 0, summary
    return sent, without, with_agent


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    rtts = [0, int(os.environ.get("RTT_MS", "20"))]
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "batou-run"], cwd=ROOT, check=True)
    user = ensure_user()
    work = tempfile.mkdtemp(prefix="batou-remote-bench-")
    os.chmod(work, 0o755)
    sshd, port, client_key, host_pub = start_sshd(work, user)
    cache = os.path.join(work, "cache")
    try:
        agents = subprocess.run(
            [BINARY, "agents"], env=dict(os.environ, BATOU_RUN_CACHE=cache), capture_output=True, text=True
        )
        if agents.returncode != 0:
            sys.exit(f"no agent:\n{agents.stderr[-3000:]}")
        print(agents.stdout.strip())
        for rtt in rtts:
            target = port if not rtt else DelayProxy(port, rtt / 2000.0).port
            known_hosts = os.path.join(work, f"known_hosts_{target}")
            with open(known_hosts, "w") as f:
                f.write(f"[127.0.0.1]:{target} {host_pub}\n")
            sent, without, with_agent = agent_upload(work, target, client_key, known_hosts, cache, user)
            print(
                f"agent upload, {rtt} ms RTT: {sent} bytes; a first deploy of one file takes {without:.3f} s "
                f"with it, {with_agent:.3f} s without ({without - with_agent:.3f} s for the upload, unpacking "
                f"and checking it)"
            )
        print()
        print(f"{'files':>6} | {'RTT':>6} | {'first run':>10} | {'no change':>10}")
        print(f"{'-' * 6}-+-{'-' * 6}-+-{'-' * 10}-+-{'-' * 10}")
        for rtt in rtts:
            target = port
            if rtt:
                target = DelayProxy(port, rtt / 2000.0).port
            known_hosts = os.path.join(work, f"known_hosts_{target}")
            with open(known_hosts, "w") as f:
                f.write(f"[127.0.0.1]:{target} {host_pub}\n")
            for n in sizes:
                d = deployment(work, n, target, client_key, known_hosts)
                first = timed(d, cache)
                again = timed(d, cache)
                print(f"{n:>6} | {rtt:>4}ms | {first:>9.3f}s | {again:>9.3f}s")
    finally:
        clean_up(sshd, work, user, "bench-deploy-")


if __name__ == "__main__":
    main()
