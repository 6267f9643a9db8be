//! The admin API's query string: `POST /v1/plugins?name=...` reads its
//! `name` here, URL-decoded, refusing malformed escapes and non-UTF-8 text
//! (a 400 with the message).

use percent_encoding::percent_decode_str;

/// The URL-decoded value of `key` in a query string (`+` is a space).
pub fn query_param(query: &str, key: &str) -> Result<Option<String>, String> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if url_decode(k)? == key {
            return url_decode(v).map(Some);
        }
    }
    Ok(None)
}

/// `s` URL-decoded (`+` is a space); a malformed escape or a result that is
/// not UTF-8 is refused, saying so.
pub fn url_decode(s: &str) -> Result<String, String> {
    // `percent-encoding` passes a malformed escape through; refuse it instead.
    let well_formed = s.split('%').skip(1).all(|after| {
        let digits = after.as_bytes().get(..2);
        digits.is_some_and(|d| d.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return Err(format!("bad percent-encoding in the query: {s}"));
    }
    match percent_decode_str(&s.replace('+', " ")).decode_utf8() {
        Ok(decoded) => Ok(decoded.into_owned()),
        Err(_) => Err(format!("the query is not UTF-8: {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_key_is_decoded() {
        let name = |query: &str| query_param(query, "name");
        assert_eq!(name("name=my+plugin"), Ok(Some("my plugin".into())));
        assert_eq!(
            name("x=1&name=a%26b%3Dc&name=two"),
            Ok(Some("a&b=c".into()))
        );
        assert_eq!(name("na%6De=%C3%BC"), Ok(Some("ü".into())));
        assert_eq!(name("name"), Ok(Some(String::new())));
        assert_eq!(name("&&other=1"), Ok(None));
        assert_eq!(name(""), Ok(None));
    }

    #[test]
    fn malformed_escapes_and_non_utf8_are_refused() {
        let name = |query: &str| query_param(query, "name");
        assert!(name("name=%zz").is_err_and(|why| why.contains("bad percent-encoding")));
        assert!(name("name=%4").is_err());
        assert!(name("name=100%").is_err());
        assert!(name("name=%ff").is_err_and(|why| why.contains("not UTF-8")));
    }
}
