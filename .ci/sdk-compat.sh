#!/usr/bin/env bash
# Compatibility of `racehound serve` with the official stripe, clerk-backend-api and svix Python
# libraries: builds racehound, starts both fakes on free ports with webhook forwarding to a
# receiver in the test, runs tests/sdk/test_sdk.py in a throwaway venv under target/, stops the
# servers. Exits non-zero on any failure. Set RACEHOUND_BIN to test a binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/sdk-serve.sh
VENV=target/sdk-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check stripe clerk-backend-api svix

LOG=target/sdk-serve.log
start_serve "$LOG" 7
cat "$LOG"

status=0
RACEHOUND_STRIPE="http://127.0.0.1:$STRIPE_PORT" RACEHOUND_CLERK="http://127.0.0.1:$CLERK_PORT" \
  RECEIVER_PORT="$RECEIVER_PORT" "$VENV/bin/python" tests/sdk/test_sdk.py || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---"; cat "$LOG"
fi
exit "$status"
