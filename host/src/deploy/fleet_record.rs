//! How a component travels on the fleet's plugin topic: gzip-compressed,
//! marked by the header `encoding: gzip`, so that a component larger than the
//! topic's record limit (a Python plugin carries CPython, ~18 MB) still fits
//! once compressed. A record without the header holds the component as is:
//! records written before compression came in stay readable.
//!
//! Compression is the publisher's own, not the producer's `compression.type`:
//! librdkafka checks `message.max.bytes` against the uncompressed record, and
//! only the compressed size says whether a component fits, so it is known
//! (and refused with its numbers) before anything is sent. The signature
//! header is always over the component's own bytes, never the compressed ones.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// The header naming a plugin record's encoding.
pub(crate) const ENCODING_HEADER: &str = "encoding";
/// The one encoding written today.
pub(crate) const GZIP: &str = "gzip";

/// Why a plugin record's payload is not a component.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum DecodeError {
    #[error("unknown encoding {0:?} (this host reads gzip and unencoded records)")]
    Unknown(String),
    #[error("the gzip payload does not decompress: {0}")]
    Corrupt(String),
    #[error("the component decompresses to more than {0} bytes")]
    TooLarge(usize),
}

/// The payload of a component's record (its header is [`ENCODING_HEADER`]:
/// [`GZIP`]). Level 6: the 18.3 MB Python plugin becomes 6.2 MB in ~1 s;
/// level 9 saves 0.8% more for 4x the time (zlib, measured on this machine).
pub(crate) fn encode(component: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(component.len() / 3),
        Compression::default(),
    );
    encoder.write_all(component)?;
    encoder.finish()
}

/// The component in a record's `payload`, given its `encoding` header (none:
/// a record from before compression, taken as is); at most `limit` bytes.
pub(crate) fn decode(
    payload: &[u8],
    encoding: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    match encoding {
        None => Ok(payload.to_vec()),
        Some(e) if e == GZIP.as_bytes() => {
            let mut component = Vec::with_capacity(payload.len().saturating_mul(3).min(limit));
            GzDecoder::new(payload)
                .take(limit as u64 + 1)
                .read_to_end(&mut component)
                .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
            if component.len() > limit {
                return Err(DecodeError::TooLarge(limit));
            }
            Ok(component)
        }
        Some(other) => Err(DecodeError::Unknown(
            String::from_utf8_lossy(other).into_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes shaped like a component: repetitive sections and some noise.
    fn component(len: usize) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(7);
        (0..len)
            .map(|i| {
                if i % 64 < 48 {
                    (i % 251) as u8
                } else {
                    rng.u8(..)
                }
            })
            .collect()
    }

    #[test]
    fn a_component_round_trips_smaller() {
        let bytes = component(1 << 20);
        let payload = encode(&bytes).expect("encode");
        assert!(payload.len() < bytes.len() / 2, "{} bytes", payload.len());
        assert_ne!(payload, bytes);
        let back = decode(&payload, Some(b"gzip"), 1 << 20).expect("decode");
        assert_eq!(back, bytes);
    }

    #[test]
    fn a_record_without_the_header_is_the_component_itself() {
        let bytes = component(4096);
        assert_eq!(decode(&bytes, None, 10).expect("raw"), bytes);
    }

    #[test]
    fn an_unknown_encoding_or_a_corrupt_payload_is_refused_with_the_reason() {
        let payload = encode(b"\0asm component").expect("encode");
        assert_eq!(
            decode(&payload, Some(b"zstd"), 1 << 20),
            Err(DecodeError::Unknown("zstd".into()))
        );
        let cut = &payload[..payload.len() - 4];
        assert!(matches!(
            decode(cut, Some(b"gzip"), 1 << 20),
            Err(DecodeError::Corrupt(_))
        ));
        assert!(matches!(
            decode(b"not gzip", Some(b"gzip"), 1 << 20),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn a_payload_inflating_past_the_limit_is_refused() {
        let zeros = vec![0u8; 4 << 20];
        let payload = encode(&zeros).expect("encode");
        assert!(payload.len() < 64 << 10, "zeros compress well");
        assert_eq!(
            decode(&payload, Some(b"gzip"), 1 << 20),
            Err(DecodeError::TooLarge(1 << 20))
        );
        assert_eq!(
            decode(&payload, Some(b"gzip"), 4 << 20)
                .expect("at the limit")
                .len(),
            4 << 20
        );
    }
}
