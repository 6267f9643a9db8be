//! The fuzz targets' smoke run in `cargo test`: each body runs over its seed
//! corpus (`fuzz/corpus/<target>/`) and then over 4,000 mutations of it from
//! a fixed-seed PRNG, so the run is the same every time and needs neither
//! cargo-fuzz nor nightly. A crash the real fuzzer finds goes into the corpus
//! (and stays there as its regression test).

use std::path::PathBuf;

use enricher_fuzz_bodies::TARGETS;

const MUTATIONS: usize = 4_000;

/// Bytes that matter to our parsers, spliced in by the mutator.
const TOKENS: [&[u8]; 16] = [
    b"\"",
    b"\\",
    b"\\u0000",
    b"\n",
    b"\r\n",
    b",",
    b"%",
    b"\xff",
    b"e9",
    b"-",
    b"9999999999",
    b".001",
    b"{}",
    b"\"claim_id\":",
    b"\xef\xbb\xbf",
    b"\xc3",
];

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("a seed"))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// One to four random edits of `input` (flip, insert, delete, copy, splice a token).
fn mutate(rng: &mut fastrand::Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=out.len());
        match rng.u8(..6) {
            0 if at < out.len() => out[at] ^= 1 << rng.u8(..8),
            1 => out.insert(at, rng.u8(..)),
            2 if at < out.len() => {
                let end = rng.usize(at..=out.len().min(at + 8));
                out.drain(at..end);
            }
            3 => {
                let token = TOKENS[rng.usize(..TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            4 if !other.is_empty() => {
                let from = rng.usize(..other.len());
                let to = rng.usize(from..=other.len());
                out.splice(at..at, other[from..to].iter().copied());
            }
            _ => {
                let from = rng.usize(..=out.len());
                let copy = out[at.min(from)..at.max(from)].to_vec();
                out.splice(at..at, copy);
            }
        }
    }
    out
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_seeded_mutations() {
    for (index, (name, body)) in TARGETS.into_iter().enumerate() {
        let seeds = seeds(name);
        let run = |input: &[u8]| {
            if std::panic::catch_unwind(|| body(input)).is_err() {
                panic!("{name} failed on {:?}", String::from_utf8_lossy(input));
            }
        };
        for seed in &seeds {
            run(seed);
        }
        let mut rng = fastrand::Rng::with_seed(0x5eed_0000 + index as u64);
        let mut last = Vec::new();
        for _ in 0..MUTATIONS {
            let seed = &seeds[rng.usize(..seeds.len())];
            let other = &seeds[rng.usize(..seeds.len())];
            // Half the time build on the last mutant, to wander further.
            let base = if rng.bool() && !last.is_empty() {
                &last
            } else {
                seed
            };
            let input = mutate(&mut rng, base, other);
            run(&input);
            last = input;
        }
    }
}
