//! A plugin built for a world this host does not run: `payments:enrichment`
//! 2.0.0, whose `process-batch` takes plain strings. The host must refuse it
//! at deploy with a message naming the version, and keep the running one.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    inline: r#"
        package payments:enrichment@2.0.0;

        interface transform {
            process-batch: func(values: list<string>) -> list<string>;
        }

        world enricher {
            export transform;
        }
    "#,
    world: "enricher",
});

struct Incompatible;

impl exports::payments::enrichment::transform::Guest for Incompatible {
    fn process_batch(values: Vec<String>) -> Vec<String> {
        values
    }
}

export!(Incompatible);
