//! A minimal plugin, built against the frozen WIT package 1.0.0
//! (`wit/released/1.0.0`): it proves that a host of a newer 1.x still runs
//! plugins built for an older one, and it is the smallest complete example of
//! a plugin: one batched lookup, every input answered.
//!
//! Each record's key is taken as a claim id; the payload goes to `enriched`
//! unchanged, with a `claim-found: yes|no` header.
//! Build: `cargo build --release -p enricher-plugin-legacy-v1 --target wasm32-wasip2`.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ path: "../../wit/released/1.0.0", world: "enricher" });

use exports::payments::enrichment::transform::{BatchError, Guest};
use payments::enrichment::claims::{self, LookupResult};
use payments::enrichment::types::{
    BatchContext, Header, InputRecord, Output, OutputRecord, PluginInfo,
};

struct Legacy;

impl Guest for Legacy {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "legacy-v1".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn process_batch(
        _: BatchContext,
        records: Vec<InputRecord>,
    ) -> Result<Vec<OutputRecord>, BatchError> {
        let ids: Vec<String> = records
            .iter()
            .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned())
            .collect();
        let found = claims::lookup(&ids);
        Ok(records
            .into_iter()
            .zip(found)
            .enumerate()
            .map(|(i, (record, answer))| {
                let mut headers = record.headers;
                let yes = matches!(answer, LookupResult::Found(_));
                headers.push(Header {
                    key: "claim-found".into(),
                    value: if yes { b"yes".to_vec() } else { b"no".to_vec() },
                });
                OutputRecord {
                    input_index: i as u32,
                    output: Output::Enriched,
                    key: record.key,
                    value: record.value,
                    headers,
                }
            })
            .collect())
    }
}

export!(Legacy);
