//! Turns the `loom-models` feature into `--cfg racehound_loom` for this crate only (its
//! dependencies stay as `cargo test` built them), and refuses the old RUSTFLAGS route, which
//! would lack the `loom` dependency.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let feature = std::env::var_os("CARGO_FEATURE_LOOM_MODELS").is_some();
    let rustflags_cfg = std::env::var_os("CARGO_CFG_RACEHOUND_LOOM").is_some();
    if rustflags_cfg && !feature {
        panic!(
            "--cfg racehound_loom came from RUSTFLAGS without the loom dependency \
             (hint: run `cargo test --features loom-models --test loom`, or `bash .ci/loom.sh`)"
        );
    }
    if feature {
        println!("cargo::rustc-cfg=racehound_loom");
    }
}
