#!/usr/bin/env bash
# What a library user pays to build racehound, and what the debug profile costs them in
# exploration speed: a benchmark (prints a table), never a test.
#
#   bash .ci/build-bench.sh [RACEHOUND_DIR]     # default: this checkout
#
# For each row it generates a fresh crate outside the repository that depends on racehound by
# path, builds it from scratch in a fresh target directory (nothing shared, so the figure is a
# new user's first build), and counts the crates cargo compiled. Rows: exploration only
# (`default-features = false`) and the default features, each in debug and release. Then it
# runs one exploration (the reference, the coupon race, EXPLORE_SEEDS seeds, one thread) in
# the lean debug build with cargo's default profile and with the README's recommended
# `[profile.dev.package."*"] opt-level = 2`, and in release, and prints simulations per second.
#
# BEFORE=1 measures a racehound from before the `racehound-turmoil` package (it needs the
# user to add `[patch.crates-io] turmoil = …`, and has no features: only the default rows).
# Wall-clock build times depend on the machine's load; the crate counts do not.
set -euo pipefail
racehound="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
seeds="${EXPLORE_SEEDS:-300}"
work="$(mktemp -d /tmp/racehound-build-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# make_crate DIR FEATURES(lean|default) PROFILE(plain|recommended)
make_crate() {
    local dir=$1 features=$2 profile=$3
    mkdir -p "$dir/src"
    local dep="racehound = { path = \"$racehound\" }"
    [ "$features" = lean ] && dep="racehound = { path = \"$racehound\", default-features = false }"
    {
        printf '[package]\nname = "build-bench"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        printf '[dependencies]\n%s\n' "$dep"
        if [ "$profile" = recommended ]; then
            printf '\n[profile.dev.package."*"]\nopt-level = 2\n'
        fi
        if [ "${BEFORE:-0}" = 1 ]; then
            printf '\n[patch.crates-io]\nturmoil = { path = "%s/vendor/turmoil" }\n' "$racehound"
        fi
    } > "$dir/Cargo.toml"
    cp "$racehound/Cargo.lock" "$dir/Cargo.lock"
    cat > "$dir/src/main.rs" <<RUST
use racehound::app::reference::Reference;
use racehound::{Explorer, Flow, Scenario, Step};

fn main() {
    let scenario = Scenario::builder("build_bench.coupon_race")
        .actor(1, [Step::new(Flow::Checkout), Step::new(Flow::ApplyCoupon).coupon("SAVE20").at_ms(0, 50)])
        .build();
    let started = std::time::Instant::now();
    let report = Explorer::new().seeds($seeds).jobs(1).explore(&scenario, Reference);
    let secs = started.elapsed().as_secs_f64();
    assert!(report.passed(), "{report}");
    println!("{} sims in {secs:.2} s: {:.0} sims/s", $seeds, $seeds as f64 / secs);
}
RUST
}

# build_row FEATURES PROFILE(plain|recommended) MODE(debug|release) -> prints a table row
build_row() {
    local features=$1 profile=$2 mode=$3
    local dir="$work/$features-$profile-$mode"
    make_crate "$dir" "$features" "$profile"
    local flag=""
    [ "$mode" = release ] && flag="--release"
    local start end
    start=$(date +%s.%N)
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build $flag 2> "$dir/build.log") || {
        tail -20 "$dir/build.log" >&2
        exit 1
    }
    end=$(date +%s.%N)
    local crates
    crates=$(grep -c '^ *Compiling ' "$dir/build.log")
    printf '| %s | %s | %s | %s | %.0f s | %s |\n' "$features" "$mode" "$profile" "$crates" \
        "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1 /proc/loadavg)"
}

# explore_row FEATURES PROFILE MODE -> runs the crate built by build_row
explore_row() {
    local dir="$work/$1-$2-$3"
    printf '| %s | %s | %s | %s |\n' "$1" "$3" "$2" "$("$dir/target/$3/build-bench")"
}

echo "racehound: $racehound ($(git -C "$racehound" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "| features | profile | settings | crates compiled | clean build | load average |"
echo "|---|---|---|---:|---:|---:|"
if [ "${BEFORE:-0}" = 1 ]; then
    build_row default plain debug
    build_row default plain release
    echo
    echo "| features | profile | settings | exploration |"
    echo "|---|---|---|---|"
    explore_row default plain debug
    explore_row default plain release
    exit 0
fi
build_row lean plain debug
build_row lean plain release
build_row default plain debug
build_row default plain release
build_row lean recommended debug
echo
echo "| features | profile | settings | exploration |"
echo "|---|---|---|---|"
explore_row lean plain debug
explore_row lean recommended debug
explore_row lean plain release
