#!/usr/bin/env bash
# Short fuzz pass for the test command: builds the cargo-fuzz targets of fuzz/ and runs each
# for FUZZ_SECONDS (default 30) on the kept corpus (fuzz/corpus/<target>) and the hand-made
# seeds (fuzz/seeds/<target>), single worker, under `nice -n 19`.
#
#   scripts/fuzz-short.sh                 # every target, 30 s each
#   FUZZ_SECONDS=600 scripts/fuzz-short.sh http_bodies
#   FUZZ_TARGET_DIR=/var/cache/chat-fuzz scripts/fuzz-short.sh   # keep the build elsewhere
#
# The build (release, AddressSanitizer, all of chat-actors' dependencies) takes about ten
# minutes from scratch on two cores, about a minute when only the targets changed. It goes to
# fuzz/target unless FUZZ_TARGET_DIR names a directory that outlives the work tree, so that
# a fresh clone (CI) reuses it.
#
# New inputs go to a temporary directory, so the kept corpus is not changed (see
# fuzz/README.md to grow and minimize it). A crash leaves its input in
# fuzz/artifacts/<target>/ and prints the report. The closing line is
# `fuzz: N passed, M failed`, one count per target; the exit status is non-zero if any
# target failed (a crash, a timeout, an allocation over the limits, or a build failure).
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address, sanitizer coverage); the
# machine has the stable toolchain only, so RUSTC_BOOTSTRAP=1 lets stable rustc accept them.
# cargo-fuzz itself is installed from crates.io when missing.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
FUZZ="$ROOT/fuzz"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
CARGO_FUZZ_VERSION=0.13.2
TARGET_DIR=${FUZZ_TARGET_DIR:-$FUZZ/target}
export RUSTC_BOOTSTRAP=1

if (($#)); then targets=("$@"); else targets=(frame_decoder http_bodies ws_framing); fi
passed=0
failed=0
began=$(date +%s)

finish() {
    echo "fuzz: took $(($(date +%s) - began)) s in all"
    echo "fuzz: $passed passed, $failed failed"
    [[ $failed -eq 0 ]]
    exit
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
    if ! nice -n 19 cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"; then
        echo "fuzz: cannot install cargo-fuzz"
        failed=${#targets[@]}
        finish
    fi
fi

echo "== building the fuzz targets ($(cargo fuzz --version))"
build_start=$(date +%s)
if ! nice -n 19 cargo fuzz build --fuzz-dir "$FUZZ" --target-dir "$TARGET_DIR"; then
    echo "fuzz: build failed"
    failed=${#targets[@]}
    finish
fi
echo "== built in $(($(date +%s) - build_start)) s"

for target in "${targets[@]}"; do
    echo
    echo "== fuzz $target for ${SECONDS_PER_TARGET} s"
    work=$(mktemp -d)
    mkdir -p "$work/new" "$FUZZ/artifacts/$target"
    # -jobs=1 -workers=1: one fuzzing process (its output goes to fuzz-0.log, copied below);
    # the corpus directories after the first are read, never written.
    (
        cd "$work" &&
            nice -n 19 cargo fuzz run --fuzz-dir "$FUZZ" --target-dir "$TARGET_DIR" "$target" \
                "$work/new" "$FUZZ/corpus/$target" "$FUZZ/seeds/$target" -- \
                -dict="$FUZZ/dicts/$target.dict" -jobs=1 -workers=1 \
                -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
                -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
                -artifact_prefix="$FUZZ/artifacts/$target/"
    ) >"$work/out" 2>&1
    status=$?
    log="$work/fuzz-0.log"
    [[ -f $log ]] || log="$work/out"
    if [[ $status -eq 0 ]] && ! grep -qE '^(==[0-9]+== ?ERROR|SUMMARY: )|panicked at|deadly signal' "$log"; then
        grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | sed 's/^/  /'
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb):' "$log" | sed 's/^/  /'
        echo "fuzz: $target: ok"
        passed=$((passed + 1))
    else
        grep -E '^#[0-9]+[[:space:]]+INITED' "$log" | sed 's/^/  /'
        # the report: from the first error line on
        awk '/panicked at|==[0-9]+== ?ERROR|ERROR: libFuzzer|deadly signal/ { on = 1 } on' "$log" | head -n 80
        [[ -s $log ]] || tail -n 40 "$work/out"
        echo "fuzz: $target: FAILED (exit $status); reproducer in fuzz/artifacts/$target/:"
        ls -t "$FUZZ/artifacts/$target" 2>/dev/null | head -n 3 | sed 's/^/  /'
        failed=$((failed + 1))
    fi
    rm -rf "$work"
done

finish
