//! `admin_query`: any query string is parsed without a panic, and any name
//! a client percent-encodes reads back exactly.

use enricher_parse::query::query_param;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

pub fn admin_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(name)) = query_param(text, "name") {
        assert!(name.len() <= text.len(), "decoding never grows the text");
    }
    let encoded = utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    let query = format!("other={encoded}&name={encoded}&name=second");
    assert_eq!(query_param(&query, "name"), Ok(Some(text.to_owned())));
}
