#!/usr/bin/env bash
# Runs the whole Docker fault matrix (4 and 7 validators; see
# tests/src/faults/mod.rs for the cases) and prints a table. Needs a Docker
# engine; builds static peerd and example02 into target/static first.
#
#   tests/fault-matrix.sh                 # every case, 4 and 7 validators
#   tests/fault-matrix.sh --validators 4  # only the 4-validator network
#   tests/fault-matrix.sh --only halves   # cases whose name contains "halves"
#   tests/fault-matrix.sh --list          # print the case names
set -euo pipefail
cd "$(dirname "$0")/.."

# The same two static builds as .ci/run.
static_flags="-C target-feature=+crt-static -C strip=symbols"
RUSTFLAGS="$static_flags" cargo build -q --release -p fabrik-examples \
  --bin example02 --bin faultcc --target x86_64-unknown-linux-gnu --target-dir target/static
RUSTFLAGS="$static_flags" cargo build -q --release -p peerd --bin peerd \
  --target x86_64-unknown-linux-gnu --target-dir target/static
cargo build -q -p fabrik-tests --bin fault-matrix

static=target/static/x86_64-unknown-linux-gnu/release
exec target/debug/fault-matrix --peerd "$static/peerd" --example02 "$static/example02" "$@"
