#!/usr/bin/env bash
# Compatibility of `racehound serve` with the official stripe, clerk-backend-api and svix Python
# libraries: builds racehound, starts both fakes on free ports with webhook forwarding to a
# receiver in the test, runs tests/sdk/test_sdk.py in a throwaway venv under target/, stops the
# servers. Exits non-zero on any failure. Set RACEHOUND_BIN to test a binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."

# RACEHOUND_BIN: a racehound binary already built (CI passes the test build's), else build one.
BIN="${RACEHOUND_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --quiet --bin racehound
  BIN=./target/debug/racehound
fi
VENV=target/sdk-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check stripe clerk-backend-api svix

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
STRIPE_PORT=$(free_port); CLERK_PORT=$(free_port); RECEIVER_PORT=$(free_port)

LOG=target/sdk-serve.log
"$BIN" serve all --stripe-port "$STRIPE_PORT" --clerk-port "$CLERK_PORT" \
  --stripe-forward-to "http://127.0.0.1:$RECEIVER_PORT/stripe" \
  --clerk-forward-to "http://127.0.0.1:$RECEIVER_PORT/clerk" \
  --retry-time-scale 0.001 --seed 7 >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if grep -q "admin:" "$LOG" 2>/dev/null; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$LOG"; echo "racehound serve exited early" >&2; exit 1; fi
  sleep 0.1
done
cat "$LOG"

status=0
RACEHOUND_STRIPE="http://127.0.0.1:$STRIPE_PORT" RACEHOUND_CLERK="http://127.0.0.1:$CLERK_PORT" \
  RECEIVER_PORT="$RECEIVER_PORT" "$VENV/bin/python" tests/sdk/test_sdk.py || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---"; cat "$LOG"
fi
exit "$status"
