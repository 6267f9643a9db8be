//! Input headers that would pass for the host's own. Outputs keep their
//! input's headers, and the host adds its own (`enrichment-status`,
//! `plugin-name`, `plugin-version`, `commit-unit`, ...); a record produced
//! with `enrichment-status: SUCCESS` or `commit-unit: forged/1` would reach
//! the outputs carrying two values of one name, the forged one first. So a
//! consumed record's headers with a host-written name
//! ([`HOST_WRITTEN`], case-insensitive) are renamed `original-<name>`: the
//! value is kept for whoever wants to see it, and the name is the host's alone.

use enricher_model::header::{HOST_WRITTEN, ORIGINAL_PREFIX};

use crate::bindings::Header;

/// Rename `headers` with a host-written name, but those in `keep` (the
/// retry headers the host itself put on a retry-topic record).
pub(crate) fn rename_host_headers(headers: &mut [Header], keep: &[&str]) {
    for h in headers {
        let reserved = HOST_WRITTEN.iter().any(|n| h.key.eq_ignore_ascii_case(n));
        if reserved && !keep.contains(&h.key.as_str()) {
            h.key = format!("{ORIGINAL_PREFIX}{}", h.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key: &str, value: &str) -> Header {
        Header {
            key: key.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn forged_host_headers_are_renamed_and_others_kept() {
        let mut headers = vec![
            header("enrichment-status", "SUCCESS"),
            header("Plugin-Version", "9.9.9"),
            header("commit-unit", "forged/1"),
            header("retry-attempt", "1"),
            header("trace-id", "abc"),
        ];
        rename_host_headers(&mut headers, &["retry-attempt"]);
        let keys: Vec<&str> = headers.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "original-enrichment-status",
                "original-Plugin-Version",
                "original-commit-unit",
                "retry-attempt",
                "trace-id"
            ]
        );
        assert_eq!(headers[0].value, b"SUCCESS");
        rename_host_headers(&mut headers, &[]);
        assert_eq!(headers[3].key, "original-retry-attempt");
    }
}
