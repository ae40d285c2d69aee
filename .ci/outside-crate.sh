#!/usr/bin/env bash
# A new user's crate, outside this repository: racehound as a path dependency with
# `default-features = false` and nothing else in its manifest (no [patch], no other
# dependency). It must build and explore. Reuses the repository's target directory
# (CARGO_TARGET_DIR) so dependencies already built are not built again.
#
#   bash .ci/outside-crate.sh            # build and run it
#   OUTSIDE_KEEP=1 bash .ci/outside-crate.sh   # keep the generated crate (its path is printed)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(mktemp -d /tmp/racehound-outside.XXXXXX)"
[ "${OUTSIDE_KEEP:-0}" = 1 ] || trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<TOML
[package]
name = "acme-race-tests"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
racehound = { path = "$repo", default-features = false }
TOML
# The repository's lockfile, so the same versions resolve as in the repository's own build.
cp "$repo/Cargo.lock" "$dir/Cargo.lock"
# The repository's dev profile (what the README's quick start recommends for exploration
# speed), given as cargo *configuration*, not in the manifest: with the same profile the
# dependencies the CI already built are reused. OUTSIDE_PROFILE=plain builds with cargo's own
# defaults instead (what a user who skips the recommendation gets).
if [ "${OUTSIDE_PROFILE:-repo}" = repo ]; then
    mkdir -p "$dir/.cargo"
    python3 - "$repo/Cargo.toml" > "$dir/.cargo/config.toml" <<'PY'
import sys, tomllib
profile = tomllib.load(open(sys.argv[1], "rb"))["profile"]["dev"]
def value(v):
    return f'"{v}"' if isinstance(v, str) else str(v).lower()
print("[profile.dev]")
for key, v in profile.items():
    if key != "package":
        print(f"{key} = {value(v)}")
for name, settings in profile.get("package", {}).items():
    print(f'[profile.dev.package."{name}"]')
    for key, v in settings.items():
        print(f"{key} = {value(v)}")
# racehound itself unoptimised: this crate only builds and explores a few seeds, and at
# opt-level 2 (what "*" gives a dependency) racehound alone takes a minute and a half to build.
print('[profile.dev.package.racehound]')
print('opt-level = 0')
PY
fi
cat > "$dir/src/main.rs" <<'RUST'
//! A team's race test: the reference passes the coupon race, a check-then-create does not.
use racehound::prelude::*;
use racehound::serde_json::json;

/// Check-then-create with no key and no compare-and-set: the textbook duplicate.
struct CheckThenCreate;

impl AppLogic for CheckThenCreate {
    fn id(&self) -> &str {
        "acme.check_then_create"
    }
    fn schema(&self) -> Vec<TableSchema> {
        Reference.schema()
    }
    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        Reference.seed_rows(users)
    }
    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        let Some((user_id, _, _)) = kit::checkout_args(&call) else { return kit::ignored() };
        kit::reply(async {
            let mut conn = env.db().connect().await?;
            let tenant = kit::select_tenant(&mut conn, &user_id, false).await?;
            if let Some(id) = tenant.stripe_customer_id {
                return Ok(json!({ "customer": id }));
            }
            let params = CustomerCreate { email: Some(tenant.email), ..Default::default() };
            let id = env.stripe().create_customer(params, None).await?.id;
            let store = Stmt::update("tenants", &[("stripe_customer_id", id.as_str().into())]);
            conn.execute(store.eq("id", tenant.id)).await?;
            Ok(json!({ "customer": id }))
        }
        .await)
    }
}

fn main() {
    let scenario = Scenario::builder("acme.coupon_race")
        .actor(1, [Step::new(Flow::Checkout), Step::new(Flow::ApplyCoupon).coupon("SAVE20").at_ms(0, 50)])
        .seeds(20)
        .build();
    let reference = racehound::explore(&scenario, Reference);
    println!("{reference}");
    reference.assert_pass();
    let naive = racehound::explore(&scenario, CheckThenCreate);
    naive.assert_fails("no_duplicate_customers");
    println!(
        "check-then-create: no_duplicate_customers broken after {} seeds in {:?}",
        naive.seeds_tried(),
        naive.elapsed
    );
}
RUST
if grep -q '^\[patch' "$dir/Cargo.toml"; then echo "the outside crate must not need [patch]" >&2; exit 1; fi
echo "outside crate: $dir"
cd "$dir"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}" cargo run ${OUTSIDE_RELEASE:+--release}
