#!/usr/bin/env bash
# Instructions per unit of work of one `cost` workload (tests/src/bin/cost.rs),
# counted by callgrind over the measured part only, so the figure does not
# depend on the machine's other load. Usage:
#   tests/cost.sh buckettree --state-keys 100000 --delta-keys 1000 --blocks 5
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "cost.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cargo build -q --release -p fabrik-tests --bin cost
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --collect-atstart=no '--toggle-collect=*cost::measured*' \
  --callgrind-out-file="$out/callgrind.out" target/release/cost "$@" >"$out/stdout" 2>"$out/stderr" ||
  { cat "$out/stderr" >&2; exit 1; }
units=$(awk '/^units /{print $2}' "$out/stdout")
instructions=$(awk '/^summary:/{print $2}' "$out/callgrind.out")
unit=$(sed -n 's/^units [0-9]* (\(.*\))$/\1/p' "$out/stdout")
grep -v '^units \|^wall ' "$out/stdout" || true
awk -v i="$instructions" -v u="$units" -v name="$unit" \
  'BEGIN { printf "%.0f instructions over %d units: %.0f instructions per %s\n", i, u, i / u, name }'
