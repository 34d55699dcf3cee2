#!/usr/bin/env bash
# fuzz/run.sh SECONDS [TARGET...]: fuzzes every cargo-fuzz target (or the
# named ones) one after another for SECONDS each, starting from the
# committed seed corpus in fuzz/corpus/<target>/ (new inputs go to
# fuzz/target/corpus/<target>/ so the committed seeds stay minimal), and
# prints the executions per target. Exits non-zero if any target crashed;
# crash inputs are left in fuzz/artifacts/<target>/.
set -u
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(ls fuzz_targets | sed 's/\.rs$//')
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$PWD/target"
cargo fuzz build -O >/dev/null || exit 2
failed=0
results=()
for t in "${TARGETS[@]}"; do
    mkdir -p "target/corpus/$t" "corpus/$t"
    log="target/fuzz-$t.log"
    cargo fuzz run -O "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=1 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    status=ok
    if [ $rc -ne 0 ]; then status="CRASH (see $log, artifacts/$t/)"; failed=1; fi
    results+=("$(printf '%-20s %12s execs  %s' "$t" "${execs:-?}" "$status")")
    echo "${results[-1]}"
done
echo "---- summary (${SECONDS_PER_TARGET}s per target) ----"
printf '%s\n' "${results[@]}"
exit $failed
