//! The `enrichment_status` codes: what an output record's status field and
//! its `enrichment-status` header say became of an input. One enum, one wire
//! name each, so the host, the SDK and the built-in plugins cannot spell a
//! code two ways.
//!
//! A plugin may answer with codes of its own (`OVERPAID`): the host passes
//! them through as text, so a status on the wire is a `&str`; this enum names
//! the codes the host and the built-in plugins give.

use std::borrow::Cow;

/// A status code the host or the built-in plugins give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Enriched: the record goes to `enriched`.
    Success,
    /// The payment's claim is not in the claims table.
    ClaimNotFound,
    /// The claim's amount cannot be written exactly with 2 decimal places.
    InvalidClaimAmount,
    /// The claims store failed after the host's retries.
    DbError,
    /// The claims store did not answer within the lookup timeout.
    DbTimeout,
    /// Not UTF-8, not JSON, or not a JSON object.
    InvalidJson,
    /// A JSON object that is not a valid payment event.
    InvalidEvent,
    /// Routed to `failed` by a plugin that gave no status (host).
    Failed,
    /// Larger than `max-record-bytes`: never handed to the plugin (host).
    RecordTooLarge,
    /// The plugin trapped on this record (host).
    PluginTrap,
    /// The plugin failed the whole batch with a `batch-error` (host).
    PluginError,
    /// The plugin answered this input with no output (host).
    PluginDroppedRecord,
    /// The plugin's output cannot be written: invalid JSON to `enriched`, a
    /// span outside the batch's text, a decimal beyond the WIT one (host).
    PluginInvalidOutput,
}

impl Status {
    /// Every status, in the order the host reports them.
    pub const ALL: [Status; 13] = [
        Status::Success,
        Status::ClaimNotFound,
        Status::InvalidClaimAmount,
        Status::DbError,
        Status::DbTimeout,
        Status::InvalidJson,
        Status::InvalidEvent,
        Status::Failed,
        Status::RecordTooLarge,
        Status::PluginTrap,
        Status::PluginError,
        Status::PluginDroppedRecord,
        Status::PluginInvalidOutput,
    ];

    /// The wire name, as written in `enrichment_status` and the status header.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::ClaimNotFound => "CLAIM_NOT_FOUND",
            Status::InvalidClaimAmount => "INVALID_CLAIM_AMOUNT",
            Status::DbError => "DB_ERROR",
            Status::DbTimeout => "DB_TIMEOUT",
            Status::InvalidJson => "INVALID_JSON",
            Status::InvalidEvent => "INVALID_EVENT",
            Status::Failed => "FAILED",
            Status::RecordTooLarge => "RECORD_TOO_LARGE",
            Status::PluginTrap => "PLUGIN_TRAP",
            Status::PluginError => "PLUGIN_ERROR",
            Status::PluginDroppedRecord => "PLUGIN_DROPPED_RECORD",
            Status::PluginInvalidOutput => "PLUGIN_INVALID_OUTPUT",
        }
    }

    /// The status of a wire name, if it is one of ours (a plugin's own code is not).
    pub fn from_wire(code: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == code)
    }

    /// A wire name as a `'static` string when it is one of ours (no
    /// allocation), else copied: what the host keeps per output.
    pub fn intern(code: &str) -> Cow<'static, str> {
        match Status::from_wire(code) {
            Some(status) => Cow::Borrowed(status.as_str()),
            None => Cow::Owned(code.to_owned()),
        }
    }

    pub fn is_success(self) -> bool {
        self == Status::Success
    }

    /// A failure of the plugin itself (not of the business, like CLAIM_NOT_FOUND).
    pub fn is_plugin_error(self) -> bool {
        matches!(
            self,
            Status::PluginTrap
                | Status::PluginError
                | Status::PluginDroppedRecord
                | Status::PluginInvalidOutput
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Status> for Cow<'static, str> {
    fn from(status: Status) -> Self {
        Cow::Borrowed(status.as_str())
    }
}

impl PartialEq<str> for Status {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Status> for str {
    fn eq(&self, other: &Status) -> bool {
        self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_wire_name() {
        for status in Status::ALL {
            assert_eq!(Status::from_wire(status.as_str()), Some(status));
            assert!(matches!(Status::intern(status.as_str()), Cow::Borrowed(_)));
        }
        assert_eq!(Status::from_wire("OVERPAID"), None);
        assert_eq!(Status::intern("OVERPAID"), "OVERPAID");
        assert_eq!(Status::ClaimNotFound.to_string(), "CLAIM_NOT_FOUND");
    }

    #[test]
    fn plugin_errors_are_the_hosts_codes_for_a_misbehaving_plugin() {
        let errors: Vec<_> = Status::ALL
            .into_iter()
            .filter(|s| s.is_plugin_error())
            .map(Status::as_str)
            .collect();
        assert_eq!(
            errors,
            [
                "PLUGIN_TRAP",
                "PLUGIN_ERROR",
                "PLUGIN_DROPPED_RECORD",
                "PLUGIN_INVALID_OUTPUT"
            ]
        );
    }
}
