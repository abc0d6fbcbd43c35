#!/usr/bin/env bash
# The whole loop of sharing a module, on this machine:
#   1. start an OCI registry of this example's own, on 127.0.0.1 only
#      (Debian's docker-registry with a config of ours; never its service);
#   2. push the `greeting` module from publisher/ (built from its Rust
#      sources, its template inside it);
#   3. deploy this deployment, whose batou.toml takes the module from the
#      registry (the first deploy pins it in batou.lock);
#   4. stop the registry.
#
# batou-run is `batou-run` on PATH, or $BATOU_RUN. The registry binary is
# $DOCKER_REGISTRY, `docker-registry` on PATH, or Debian's package fetched
# with `apt-get download` and unpacked into .registry/ (no root needed).
# The port is 5050, as batou.toml says; $REGISTRY_PORT changes both.
set -euo pipefail
cd "$(dirname "$0")"

batou_run=${BATOU_RUN:-batou-run}
port=${REGISTRY_PORT:-5050}

registry=${DOCKER_REGISTRY:-}
if [ -z "$registry" ]; then
    if command -v docker-registry >/dev/null; then
        registry=docker-registry
    else
        if ! [ -x .registry/usr/bin/docker-registry ]; then
            echo "fetching Debian's docker-registry package into .registry/"
            tmp=$(mktemp -d)
            (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" docker-registry)
            dpkg-deb -x "$tmp"/docker-registry_*.deb .registry
            rm -rf "$tmp"
        fi
        registry=.registry/usr/bin/docker-registry
    fi
fi

mkdir -p .registry/data
cat > .registry/config.yml <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $PWD/.registry/data
http:
  addr: 127.0.0.1:$port
EOF
"$registry" serve .registry/config.yml > .registry/log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
echo "registry on 127.0.0.1:$port"

if [ "$port" != 5050 ]; then
    sed -i "s#oci://127.0.0.1:[0-9]*/#oci://127.0.0.1:$port/#" batou.toml
fi
"$batou_run" component push greeting "oci://127.0.0.1:$port/examples/greeting:1.0" --deployment publisher
"$batou_run" component inspect "oci://127.0.0.1:$port/examples/greeting:1.0"
"$batou_run" deploy dev
cat work/greeting/greeting.txt
