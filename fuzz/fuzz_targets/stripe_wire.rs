//! Fuzz target `stripe_wire`: see `racehound::fuzz::stripe_wire`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzz::stripe_wire(data));
