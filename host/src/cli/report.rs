//! How the binary prints an error that stops it: the message and its chain
//! of causes on one line, each cause once.

/// `message: cause: cause...` for `error` and its `source()` chain, like
/// anyhow's `{:#}`, but a cause whose text the line already holds (an error
/// that embeds its cause and also returns it as `source()`, as some library
/// errors do) is not printed again.
pub fn chain_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that embeds its cause in its message and returns it as `source()`.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x.csv: {source}")]
    struct Both {
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(Both { source: io }).context("claims load");
        assert_eq!(
            format!("{error:#}"),
            "claims load: cannot read x.csv: no such file: no such file"
        );
        assert_eq!(
            chain_text(&error),
            "claims load: cannot read x.csv: no such file"
        );
        let plain = anyhow::anyhow!("disk full").context("writing out.jsonl");
        assert_eq!(chain_text(&plain), "writing out.jsonl: disk full");
    }
}
