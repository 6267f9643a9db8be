//! Fuzz target `claims_json_lines`: see `enricher_fuzz_bodies::claims_json_lines`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enricher_fuzz_bodies::claims_json_lines(data));
