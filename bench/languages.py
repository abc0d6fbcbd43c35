#!/usr/bin/env python3
"""Python and JavaScript components: what the first deploy on a host pays
(building from source, compiling to native code) and what later deploys
pay once the compiled module is cached. Prints a table per language, with
the release build of batou-run:

    tools/toolchains.sh && python3 bench/languages.py

For each language a deployment has R roots of the `notice` kind
(tests/languages/<lang>/notice; the Rust reference is the fixture of the
same name). Rows: a cold deploy (empty cache: build + compile), a deploy
with the module built but not compiled (a new host's agent), a cached
no-change deploy, and the time to instantiate the module, from the
runner's own `instantiated` log lines (BATOU_RUN_LOG=info), median of
all instantiations of the cached run.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "batou-run")
ROOTS = 10
TOOLS = {
    "python": ("BATOU_RUN_COMPONENTIZE_PY", ".toolchains/python/bin/componentize-py"),
    "js": ("BATOU_RUN_COMPONENTIZE_JS", ".toolchains/js/node_modules/.bin/componentize-js"),
}


def deployment(language):
    d = tempfile.mkdtemp(prefix=f"batou-bench-{language}-")
    os.makedirs(os.path.join(d, "environments"))
    names = [f"n{i}" for i in range(ROOTS)]
    with open(os.path.join(d, "environments", "bench.toml"), "w") as env:
        env.write("[hosts.localhost]\ncomponents = [%s]\n\n" % ", ".join(f'"{x}"' for x in names))
        for x in names:
            env.write(f'[components.{x}]\nkind = "notice"\npath = "{x}.txt"\ntitle = "{x}"\nlines = ["a", "b"]\n\n')
    shutil.copytree(os.path.join(ROOT, "tests", "languages", language, "notice"), os.path.join(d, "components", "notice"))
    return d


def deploy(d, cache, language):
    var, tool = TOOLS[language]
    env = dict(os.environ, BATOU_RUN_CACHE=cache, BATOU_RUN_LOG="info")
    env[var] = os.path.join(ROOT, tool)
    started = time.perf_counter()
    p = subprocess.run([BINARY, "deploy", "bench", "-d", d], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if p.returncode != 0:
        sys.exit(f"deploy failed:\n{p.stdout}\n{p.stderr}")
    micros = [int(m) for m in re.findall(r"instantiated module=components/notice us=(\d+)", p.stderr)]
    return wall, micros


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "batou-run"], cwd=ROOT, check=True)
    print(f"{ROOTS} roots of `notice` per deploy, release build\n")
    print("| language | cold (build + compile) | built, not compiled | cached, no change | instantiate (median) | module size |")
    print("| --- | --- | --- | --- | --- | --- |")
    for language in sys.argv[1:] or ["python", "js"]:
        if not os.path.exists(os.path.join(ROOT, TOOLS[language][1])):
            print(f"| {language} | (run tools/toolchains.sh) | | | | |")
            continue
        cache = tempfile.mkdtemp(prefix="batou-bench-cache-")
        d = deployment(language)
        cold, _ = deploy(d, cache, language)
        shutil.rmtree(os.path.join(cache, "compiled"))
        compile_only, _ = deploy(d, cache, language)
        cached, micros = deploy(d, cache, language)
        built = [f for f in os.listdir(os.path.join(cache, f"{'python' if language == 'python' else 'js'}-builds")) if f.endswith(".wasm")]
        size = os.path.getsize(os.path.join(cache, f"{'python' if language == 'python' else 'js'}-builds", built[0]))
        median = statistics.median(micros) / 1000 if micros else float("nan")
        print(
            f"| {language} | {cold:.2f} s | {compile_only:.2f} s | {cached:.3f} s | {median:.2f} ms | {size / 2**20:.1f} MiB |"
        )
        shutil.rmtree(d)
        shutil.rmtree(cache)


if __name__ == "__main__":
    main()
