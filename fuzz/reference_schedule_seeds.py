#!/usr/bin/env python3
"""Writes the seed corpus of the `reference_schedule` fuzz target (fuzz/corpus/reference_schedule/).

The byte layout is documented on `racehound::fuzz::reference_schedule_input`; between them
the seeds play every flow and every fault kind (tests/fuzz_corpus.rs checks that).
Run from the repository root: python3 fuzz/reference_schedule_seeds.py
"""
import os

FLOWS = ["signup", "checkout", "apply_coupon", "pay", "create_team_org", "clerk_subscription"]
KINDS = ["crash", "partition", "stripe_5xx", "stripe_429", "clerk_5xx", "clerk_429", "lost_response",
         "db_connection_drop", "webhook_duplicate", "webhook_reorder", "webhook_delay", "webhook_early",
         "time_jump_25h"]


def step(flow, at_ms, replica=0, attempts=1, timeout=1, coupon=False):
    """replica: 0 = load balancer, k = app-k; timeout: 0 = 1 s, 1 = 3 s, 2 = 10 s (with retries)."""
    return [FLOWS.index(flow), at_ms >> 8, at_ms & 0xFF, replica, attempts - 1, timeout, int(coupon)]


def fault(kind, at_ms, p=0, q=0, r=128):
    """p: replica (1 + p % replicas) or service (even Stripe, odd Clerk); q: count (1 + q % 3) or
    partition peer (postgres, stripe, clerk); r: restart / heal / delay, scaled from 0..255."""
    return [KINDS.index(kind), at_ms >> 8, at_ms & 0xFF, p, q, r]


def schedule(users, replicas, latency, seed, actors, faults):
    lo, hi = latency
    out = [users - 1, replicas - 1, lo - 1, hi - lo, *seed.to_bytes(8, "big"), len(actors) - 1]
    for user, steps in actors:
        out += [user - 1, len(steps) - 1]
        for s in steps:
            out += s
    out.append(len(faults))
    for f in faults:
        out += f
    return bytes(out)


SEEDS = {
    "coupon-race": schedule(1, 1, (1, 1), 0, [(1, [step("checkout", 0), step("apply_coupon", 0)])], []),
    "signup-two-tabs-crash": schedule(
        1, 2, (1, 10), 1,
        [(1, [step("signup", 0)]), (1, [step("signup", 40, replica=2)])],
        [fault("crash", 20, p=0, r=80), fault("stripe_5xx", 0, q=1)]),
    "checkout-retry-lost-response": schedule(
        1, 2, (2, 20), 2,
        [(1, [step("checkout", 0, attempts=3, timeout=0), step("apply_coupon", 300, attempts=2, timeout=1)])],
        [fault("lost_response", 0, p=0, q=0), fault("stripe_429", 250, q=1)]),
    "team-org-vs-subscription": schedule(
        1, 1, (1, 5), 3,
        [(1, [step("create_team_org", 0, attempts=2, timeout=1), step("clerk_subscription", 100)])],
        [fault("clerk_5xx", 0, q=0), fault("clerk_429", 50, q=1), fault("webhook_early", 90, p=1)]),
    "pay-webhooks": schedule(
        1, 1, (1, 10), 4,
        [(1, [step("signup", 0), step("checkout", 100), step("pay", 600)])],
        [fault("webhook_duplicate", 550, p=0, q=1), fault("webhook_reorder", 560, p=0, q=2),
         fault("webhook_delay", 570, p=0, q=0, r=100)]),
    "partition-db-drop": schedule(
        2, 3, (5, 30), 5,
        [(1, [step("checkout", 0, replica=2), step("apply_coupon", 10, replica=3, coupon=True)]),
         (2, [step("checkout", 0, replica=1, coupon=True)])],
        [fault("partition", 5, p=1, q=0, r=60), fault("db_connection_drop", 15, p=2)]),
    "time-jump-redelivery": schedule(
        1, 1, (1, 3), 6,
        [(1, [step("checkout", 0), step("pay", 400), step("checkout", 900, attempts=2, timeout=1)])],
        [fault("webhook_delay", 350, p=0, q=2, r=255), fault("time_jump_25h", 700)]),
    "two-users-everything": schedule(
        2, 3, (1, 50), 7,
        [(1, [step("signup", 0), step("checkout", 200), step("apply_coupon", 210, replica=2), step("pay", 800)]),
         (2, [step("signup", 0, replica=3), step("create_team_org", 300), step("clerk_subscription", 320),
              step("create_team_org", 330, replica=1, attempts=3, timeout=0)]),
         (1, [step("checkout", 205, replica=3, coupon=True)])],
        [fault("crash", 215, p=1, r=30), fault("webhook_early", 310, p=1), fault("lost_response", 320, p=1)]),
}

if __name__ == "__main__":
    directory = os.path.join("fuzz", "corpus", "reference_schedule")
    os.makedirs(directory, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
