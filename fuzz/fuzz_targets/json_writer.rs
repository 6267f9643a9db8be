//! Fuzz target `json_writer`: see `enricher_fuzz_bodies::json_writer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enricher_fuzz_bodies::json_writer(data));
