#!/usr/bin/env bash
# Compatibility of `racehound serve` with the official Node SDKs (stripe, @clerk/backend, svix;
# versions pinned in tests/sdk-node/package-lock.json, installed with `npm ci`): builds
# racehound, starts both fakes on free ports with webhook forwarding to a receiver in the test,
# runs tests/sdk-node/test_sdk.mjs with node's test runner, stops the servers. Exits non-zero
# on any failure. Set RACEHOUND_BIN to test a binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/sdk-serve.sh
(cd tests/sdk-node && npm ci --no-audit --no-fund --loglevel=error)

LOG=target/sdk-node-serve.log
start_serve "$LOG" 11

status=0
(cd tests/sdk-node && RACEHOUND_STRIPE="http://127.0.0.1:$STRIPE_PORT" \
  RACEHOUND_CLERK="http://127.0.0.1:$CLERK_PORT" RECEIVER_PORT="$RECEIVER_PORT" \
  node --test --test-reporter=spec test_sdk.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---"; cat "$LOG"
fi
exit "$status"
