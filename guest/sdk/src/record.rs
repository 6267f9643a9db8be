//! What a plugin reads and returns: a borrowed view of one input [`Record`],
//! the [`Batch`] facts the host decides, and the [`Output`] that answers a record.

use std::borrow::Cow;
use std::sync::OnceLock;

use enricher_model::format_utc_millis;

/// One record header, as on a Kafka record. On wasm32 this is the WIT type
/// itself, so the input's headers pass through without a copy.
#[cfg(target_arch = "wasm32")]
pub use crate::wasm::Header;

/// One record header, as on a Kafka record.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Vec<u8>,
}

/// One input record, borrowed from the batch the host passed in.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The raw payload: the plugin parses it.
    pub value: &'a [u8],
    pub key: Option<&'a [u8]>,
    pub headers: &'a [Header],
    /// Milliseconds since the Unix epoch, when the source knows it.
    pub timestamp_ms: Option<i64>,
}

impl<'a> Record<'a> {
    /// A record of just a payload (tests, benchmarks).
    pub fn from_value(value: &'a [u8]) -> Self {
        Record {
            value,
            key: None,
            headers: &[],
            timestamp_ms: None,
        }
    }

    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.key == key)
            .map(|h| h.value.as_slice())
    }
}

/// Facts about the batch that the host decides, so a plugin stays deterministic.
#[derive(Debug, Default)]
pub struct Batch {
    /// Processing time of the whole batch, milliseconds since the Unix epoch.
    pub processing_time_ms: i64,
    timestamp: OnceLock<String>,
}

impl Batch {
    pub fn new(processing_time_ms: i64) -> Self {
        Batch {
            processing_time_ms,
            timestamp: OnceLock::new(),
        }
    }

    /// The processing time as `2024-01-15T10:30:01.123Z` (the
    /// `enrichment_timestamp` text), formatted once per batch.
    pub fn timestamp(&self) -> &str {
        self.timestamp
            .get_or_init(|| format_utc_millis(self.processing_time_ms))
    }
}

/// Where an output goes; the host maps each to a topic or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Enriched,
    Failed,
}

/// The answer to one input record. It keeps the input's key and headers
/// unless told otherwise; a status other than SUCCESS travels as the
/// `enrichment-status` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub(crate) route: Route,
    pub(crate) status: Option<Cow<'static, str>>,
    pub(crate) value: Vec<u8>,
    /// `Some`: replaces the input's key; `None`: keeps it.
    pub(crate) key: Option<Option<Vec<u8>>>,
    /// Added after the input's headers.
    pub(crate) headers: Vec<(String, Vec<u8>)>,
}

impl Output {
    /// An enriched record (status SUCCESS).
    pub fn enriched(value: impl Into<Vec<u8>>) -> Self {
        Output {
            route: Route::Enriched,
            status: None,
            value: value.into(),
            key: None,
            headers: Vec::new(),
        }
    }

    /// A failed record with its status code (e.g. `CLAIM_NOT_FOUND`).
    pub fn failed(status: impl Into<Cow<'static, str>>, value: impl Into<Vec<u8>>) -> Self {
        Output {
            route: Route::Failed,
            status: Some(status.into()),
            value: value.into(),
            key: None,
            headers: Vec::new(),
        }
    }

    /// Set the status (an enriched record with a status other than SUCCESS, say).
    pub fn with_status(mut self, status: impl Into<Cow<'static, str>>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Replace the input's key (`None`: no key).
    pub fn with_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.key = Some(key);
        self
    }

    /// Add a header after the input's.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    pub fn route(&self) -> Route {
        self.route
    }

    /// The status the host will see: the one set, else SUCCESS for an
    /// enriched record and FAILED for a failed one.
    pub fn status(&self) -> &str {
        match (&self.status, self.route) {
            (Some(s), _) => s,
            (None, Route::Enriched) => "SUCCESS",
            (None, Route::Failed) => "FAILED",
        }
    }

    /// The status header to send, if any: none for a plain success (the host
    /// reads a header-less enriched record as SUCCESS; saves two allocations).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn status_header(&self) -> Option<&str> {
        match (&self.status, self.route) {
            (Some(s), Route::Enriched) if s == "SUCCESS" => None,
            (Some(s), _) => Some(s),
            (None, _) => None,
        }
    }

    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The record's bytes, without a copy.
    pub fn into_value(self) -> Vec<u8> {
        self.value
    }

    /// The key set with [`with_key`](Output::with_key), if any.
    pub fn key(&self) -> Option<Option<&[u8]>> {
        self.key.as_ref().map(Option::as_deref)
    }

    /// The headers added with [`with_header`](Output::with_header).
    pub fn extra_headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_defaults_follow_the_route() {
        assert_eq!(Output::enriched("x").status(), "SUCCESS");
        assert_eq!(Output::enriched("x").status_header(), None);
        let failed = Output::failed("CLAIM_NOT_FOUND", "x");
        assert_eq!(failed.status(), "CLAIM_NOT_FOUND");
        assert_eq!(failed.status_header(), Some("CLAIM_NOT_FOUND"));
        let partial = Output::enriched("x").with_status("PARTIAL");
        assert_eq!(partial.status_header(), Some("PARTIAL"));
    }

    #[test]
    fn the_batch_timestamp_is_the_enrichment_timestamp_text() {
        assert_eq!(
            Batch::new(1_705_314_601_123).timestamp(),
            "2024-01-15T10:30:01.123Z"
        );
    }
}
