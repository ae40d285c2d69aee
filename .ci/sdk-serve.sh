# Sourced by .ci/sdk-compat.sh and .ci/sdk-node.sh: builds racehound unless RACEHOUND_BIN names
# a binary, and `start_serve LOG SEED` starts `racehound serve all` on free ports forwarding
# webhooks to a receiver (STRIPE_PORT, CLERK_PORT, RECEIVER_PORT are set), waits until it
# listens, and stops it when the script exits.

BIN="${RACEHOUND_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --quiet --bin racehound
  BIN=./target/debug/racehound
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_serve() {
  local log="$1" seed="$2"
  STRIPE_PORT=$(free_port); CLERK_PORT=$(free_port); RECEIVER_PORT=$(free_port)
  mkdir -p "$(dirname "$log")"
  "$BIN" serve all --stripe-port "$STRIPE_PORT" --clerk-port "$CLERK_PORT" \
    --stripe-forward-to "http://127.0.0.1:$RECEIVER_PORT/stripe" \
    --clerk-forward-to "http://127.0.0.1:$RECEIVER_PORT/clerk" \
    --retry-time-scale 0.001 --seed "$seed" >"$log" 2>&1 &
  SERVER_PID=$!
  trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    if grep -q "admin:" "$log" 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$log"; echo "racehound serve exited early" >&2; exit 1; fi
    sleep 0.1
  done
  cat "$log"; echo "racehound serve did not start within 10 s" >&2; exit 1
}
