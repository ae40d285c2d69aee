#!/usr/bin/env bash
# Compatibility of `racehound serve` with the official Node SDKs (stripe, @clerk/backend, svix;
# versions pinned in tests/sdk-node/package-lock.json, installed with `npm ci`): builds
# racehound, starts both fakes on free ports with webhook forwarding to a receiver in the test,
# runs tests/sdk-node/test_sdk.mjs with node's test runner, stops the servers. Exits non-zero
# on any failure. Set RACEHOUND_BIN to test a binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${RACEHOUND_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --quiet --bin racehound
  BIN=./target/debug/racehound
fi
(cd tests/sdk-node && npm ci --no-audit --no-fund --loglevel=error)

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
STRIPE_PORT=$(free_port); CLERK_PORT=$(free_port); RECEIVER_PORT=$(free_port)

mkdir -p target
LOG=target/sdk-node-serve.log
"$BIN" serve all --stripe-port "$STRIPE_PORT" --clerk-port "$CLERK_PORT" \
  --stripe-forward-to "http://127.0.0.1:$RECEIVER_PORT/stripe" \
  --clerk-forward-to "http://127.0.0.1:$RECEIVER_PORT/clerk" \
  --retry-time-scale 0.001 --seed 11 >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if grep -q "admin:" "$LOG" 2>/dev/null; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$LOG"; echo "racehound serve exited early" >&2; exit 1; fi
  sleep 0.1
done

status=0
(cd tests/sdk-node && RACEHOUND_STRIPE="http://127.0.0.1:$STRIPE_PORT" \
  RACEHOUND_CLERK="http://127.0.0.1:$CLERK_PORT" RECEIVER_PORT="$RECEIVER_PORT" \
  node --test --test-reporter=spec test_sdk.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---"; cat "$LOG"
fi
exit "$status"
