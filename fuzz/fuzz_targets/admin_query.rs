//! Fuzz target `admin_query`: see `enricher_fuzz_bodies::admin_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enricher_fuzz_bodies::admin_query(data));
