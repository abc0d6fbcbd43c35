#!/bin/sh
# Builds batou-run at COMMIT (release, in the repository's own target/,
# so only batou-run's crate is compiled again) and copies the binary to
# target/before/batou-run-COMMIT, for BEFORE= of bench/versus_batou.py.
# Then builds the checked-out sources again.
#
#     bench/before.sh 20c2a8e
#     BEFORE=target/before/batou-run-20c2a8e python3 bench/versus_batou.py
set -eu
commit=$(git rev-parse --short "${1:?usage: bench/before.sh COMMIT}")
root=$(cd "$(dirname "$0")/.." && pwd)
tree=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tree"' EXIT
git -C "$root" worktree add --detach "$tree" "$commit" >/dev/null
(cd "$tree" && CARGO_TARGET_DIR="$root/target" cargo build --release --quiet -p batou-run)
mkdir -p "$root/target/before"
cp "$root/target/release/batou-run" "$root/target/before/batou-run-$commit"
# The two builds share the build script's output folder, and cargo judges
# the script by mtimes: touching it makes it write the embedded files of
# these sources again.
touch "$root/runner/build.rs"
(cd "$root" && cargo build --release --quiet -p batou-run)
echo "$root/target/before/batou-run-$commit"
