//! Fuzz target `claims_csv`: see `enricher_fuzz_bodies::claims_csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enricher_fuzz_bodies::claims_csv(data));
