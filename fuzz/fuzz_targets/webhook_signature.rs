//! Fuzz target `webhook_signature`: see `racehound::fuzz::webhook_signature`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzz::webhook_signature(data));
