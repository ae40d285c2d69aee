#!/usr/bin/env bash
# Real-PostgreSQL checks: make sure a PostgreSQL server runs, export DATABASE_URL, then run
# the reference on real PostgreSQL (tests/pg_concurrency.rs) and the differential check of
# the simulated PostgreSQL (tests/pg_differential.rs).
#
#   .ci/pg.sh                 # uses $DATABASE_URL if set, else the local server below
#
# Runtime (excluding the build): about 1 minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

DEFAULT_URL="postgres://postgres@127.0.0.1:5432/test"
export DATABASE_URL="${DATABASE_URL:-$DEFAULT_URL}"

pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432
    else
        (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
    fi
}

if [ "$DATABASE_URL" = "$DEFAULT_URL" ] && ! pg_ready; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "PostgreSQL is not installed; installing it (hint: set DATABASE_URL to use another server)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
    fi
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    echo "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 60); do
        pg_ready && break
        sleep 0.5
    done
    pg_ready || { echo "PostgreSQL did not start (hint: see /var/log/postgresql/)" >&2; exit 1; }
    # Trust auth for local TCP connections and a `test` database, as the tests expect.
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q "racehound" "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust # racehound' "$hba"
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    fi
    su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"" | grep -q 1 \
        || su postgres -c "createdb test"
fi

echo "DATABASE_URL=$DATABASE_URL"
cargo build --tests --test pg_concurrency --test pg_differential
start=$(date +%s)
cargo test --test pg_concurrency --test pg_differential -- --nocapture 2>&1 | tee /tmp/racehound-pg.log \
    | grep -E "^(test |running|SKIPPED|reference:|checkout\.|hand-written|generated|mutant|for example)|test result|panicked|disagree"
status=${PIPESTATUS[0]}
echo "real-PostgreSQL tests took $(( $(date +%s) - start )) s (full log: /tmp/racehound-pg.log)"
if grep -q "^SKIPPED" /tmp/racehound-pg.log; then
    echo "a real-PostgreSQL test was skipped although DATABASE_URL is set" >&2
    exit 1
fi
exit "$status"
