#!/usr/bin/env bash
# Installs the guest toolchains that build Python and JavaScript components
# into .toolchains/ (ignored by git), pinned: componentize-py from PyPI into
# a virtual environment, componentize-js from npm; and, for the sharing
# tests, Debian's docker-registry and wkg; and the Rust targets of the
# static agents for hosts. The tests use them from there;
# deployments find the componentizers on PATH (or BATOU_RUN_COMPONENTIZE_PY
# / BATOU_RUN_COMPONENTIZE_JS). Safe to run again: it installs what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPONENTIZE_PY=0.25.1
COMPONENTIZE_JS=0.23.0
WKG=0.16.1

mkdir -p .toolchains
# The Rust targets of the static agents shipped to hosts (built on first
# use; the SSH tests use the x86_64 one, the qemu test the aarch64 one).
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null
if ! .toolchains/python/bin/componentize-py --version 2>/dev/null | grep -q "$COMPONENTIZE_PY"; then
    python3 -m venv .toolchains/python
    .toolchains/python/bin/pip install -q "componentize-py==$COMPONENTIZE_PY"
fi
if ! [ -x .toolchains/js/node_modules/.bin/componentize-js ] \
    || ! grep -q "\"version\": \"$COMPONENTIZE_JS\"" .toolchains/js/node_modules/@bytecodealliance/componentize-js/package.json; then
    mkdir -p .toolchains/js
    (cd .toolchains/js && [ -f package.json ] || echo '{"private": true}' > package.json)
    npm install --prefix .toolchains/js --no-audit --no-fund -s "@bytecodealliance/componentize-js@$COMPONENTIZE_JS"
fi
# An OCI registry for the registry tests (tests/integration/registry_server.rs):
# Debian's docker-registry, unpacked into .toolchains/registry/ (never
# installed, its service never started). `apt-get download` needs the apt
# lists (`apt-get update`), not root.
if ! [ -x .toolchains/registry/usr/bin/docker-registry ]; then
    tmp=$(mktemp -d)
    # As ourselves (not apt's _apt user, who cannot write into $tmp).
    (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" docker-registry)
    mkdir -p .toolchains/registry
    dpkg-deb -x "$tmp"/docker-registry_*.deb .toolchains/registry
    rm -rf "$tmp"
fi
# wkg (the Wasm ecosystem's package tool, from crates.io) for the round
# trip of a module between it and batou-run through a registry
# (tests/integration/sharing.rs). Built once: a few minutes.
if ! .toolchains/wkg/bin/wkg --version 2>/dev/null | grep -q "$WKG"; then
    cargo install -q --locked --root .toolchains/wkg --version "$WKG" wkg
fi
echo "toolchains: $(.toolchains/python/bin/componentize-py --version), componentize-js $COMPONENTIZE_JS, $(.toolchains/registry/usr/bin/docker-registry --version), $(.toolchains/wkg/bin/wkg --version)"
