//! Fuzz target `event_batch`: see `enricher_fuzz_bodies::event_batch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enricher_fuzz_bodies::event_batch(data));
