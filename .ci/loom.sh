#!/usr/bin/env bash
# The loom models (tests/loom.rs): every interleaving, up to a preemption bound, of the same
# app logic the turmoil world runs, judged by the same oracle. The `loom-models` feature sets
# `--cfg racehound_loom` for racehound alone (build.rs), so the dependencies `cargo test`
# built are reused; only racehound, loom and the test are compiled here. Prints one
# LOOM-MODEL line per model and the build + run times.
#
#   bash .ci/loom.sh                        # dev profile (the one `cargo test` built)
#   LOOM_PROFILE=release bash .ci/loom.sh   # optimised: slower to build, faster models
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
profile=()
if [ "${LOOM_PROFILE:-dev}" = release ]; then
    profile=(--release)
fi

started=$SECONDS
cargo test "${profile[@]}" --features loom-models --test loom --no-run
built=$SECONDS
# One model at a time: each prints its own iteration count and time.
cargo test "${profile[@]}" --features loom-models --test loom -- --nocapture --test-threads=1
finished=$SECONDS
echo "loom.sh: build $((built - started)) s, models $((finished - built)) s, total $((finished - started)) s (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, profile ${LOOM_PROFILE:-dev})"
