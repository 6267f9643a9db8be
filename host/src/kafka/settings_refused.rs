//! A broker refusing the client for its settings, in librdkafka's words:
//! the probe's context ([`ProbeContext`]) reads librdkafka's log lines and
//! error events and keeps the first that says a setting is wrong (TLS:
//! certificate not trusted, TLS against plaintext or the reverse; SASL: a
//! wrong password, a mechanism the broker does not offer), with the settings
//! to look at, and the last failure otherwise (a broker that is not there).
//! librdkafka tells the request itself only that it timed out.

use std::sync::Mutex;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// What librdkafka said about its connections: the last failure, the first
/// refusal (a setting that no retry mends), and how often a plaintext
/// connection was closed at its first request.
#[derive(Default)]
struct Said {
    last: Option<String>,
    /// The last line as said (without the thread's name), to tell a repeat
    /// of the same failure from the same failure said twice.
    last_key: Option<String>,
    refusal: Option<Refusal>,
    closed_at_first_request: u32,
}

/// A broker refusing the client for its settings: librdkafka's words and
/// which settings to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub what: String,
    pub hint: &'static str,
}

/// A plaintext connection closed by the broker at the client's first
/// request (`ApiVersion`) this many times is a TLS listener: once could be a
/// broker going down.
const CLOSED_AT_FIRST_REQUEST: u32 = 2;

/// The probe's context: keeps what librdkafka says about its connections.
#[derive(Default)]
pub(super) struct ProbeContext {
    said: Mutex<Said>,
}

impl ProbeContext {
    fn note(&self, line: &str) {
        let mut said = self.said.lock().unwrap_or_else(|e| e.into_inner());
        let text = tidy(line);
        // The same failure may come as a log line and as an error event
        // (repeats differ: librdkafka counts them in the line).
        let key = line
            .split_once("]: ")
            .map_or(line, |(_, rest)| rest)
            .to_owned();
        let again = said.last_key.as_ref() == Some(&key);
        said.last_key = Some(key);
        let hint = match read_line(line) {
            Line::Refusal(hint) => Some(hint),
            Line::ClosedAtFirstRequest if again => None,
            Line::ClosedAtFirstRequest => {
                said.closed_at_first_request += 1;
                (said.closed_at_first_request >= CLOSED_AT_FIRST_REQUEST).then_some(TLS_LISTENER)
            }
            Line::Other => None,
        };
        // The first refusal, or a longer line of the same kind (librdkafka
        // says some twice, once with its advice on the setting).
        if let Some(hint) = hint
            && said
                .refusal
                .as_ref()
                .is_none_or(|r| r.hint == hint && r.what.len() < text.len())
        {
            said.refusal = Some(Refusal {
                what: text.clone(),
                hint,
            });
        }
        // "1/1 brokers are down" follows every failure, and says less.
        if !text.contains("brokers are down") {
            said.last = Some(text);
        }
    }

    pub(super) fn refusal(&self) -> Option<Refusal> {
        self.said
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .refusal
            .clone()
    }

    pub(super) fn last(&self) -> Option<String> {
        self.said
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last
            .clone()
    }
}

impl rdkafka::ClientContext for ProbeContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        tracing::debug!("librdkafka {level:?} {fac}: {line}");
        // Connections closed by the peer are logged at info level.
        if (level as i32) <= (RDKafkaLogLevel::Info as i32) {
            self.note(line);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!("librdkafka error {error}: {reason}");
        self.note(reason);
    }
}

impl ConsumerContext for ProbeContext {}

/// librdkafka's line without the thread and broker names it starts with
/// (`[thrd:ssl://127.0.0.1:9093/bootstrap]: ssl://127.0.0.1:9093/bootstrap: `),
/// which the error names already, nor OpenSSL's source file and function
/// (`../ssl/statem/statem_clnt.c:1889:tls_post_process_server_certificate`).
fn tidy(line: &str) -> String {
    let mut line = line.trim();
    while let Some((prefix, rest)) = line.split_once(": ")
        && !prefix.contains(' ')
        && (prefix.contains('/') || prefix.starts_with("[thrd:"))
    {
        line = rest;
    }
    let line = line
        .split(' ')
        .filter(|word| !(word.starts_with("../") && word.contains(".c:")))
        .collect::<Vec<_>>()
        .join(" ");
    // librdkafka's count of repeats ("..., 1 identical error(s) suppressed)").
    match line.find(" identical error(s) suppressed") {
        Some(end) => match line[..end].rfind(", ") {
            Some(start) if line[start + 2..end].bytes().all(|b| b.is_ascii_digit()) => {
                format!(
                    "{}{}",
                    &line[..start],
                    &line[end + " identical error(s) suppressed".len()..]
                )
            }
            _ => line,
        },
        None => line,
    }
}

const TLS_LISTENER: &str = "the broker closed the connection at the client's first request, as a TLS \
     listener does to a plaintext client: if it serves TLS, set security.protocol \
     (KAFKA_PROPERTY_SECURITY_PROTOCOL) to SSL or SASL_SSL";

/// What a line of librdkafka's says about the connection.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The broker refused the client for its settings: which ones to look at.
    Refusal(&'static str),
    /// A plaintext connection closed at its first request: a TLS listener if it repeats.
    ClosedAtFirstRequest,
    /// Anything else (a broker down, a timeout).
    Other,
}

/// Read librdkafka's `line` (its log line or error event).
fn read_line(line: &str) -> Line {
    let l = line.to_ascii_lowercase();
    let tls_client = l.contains("ssl://");
    if l.contains("certificate verify failed") || l.contains("certificate could not be verified") {
        Line::Refusal(
            "the broker's TLS certificate is not signed by a CA the client trusts: \
             set ssl.ca.location (KAFKA_PROPERTY_SSL_CA_LOCATION) to the CA that signed it",
        )
    } else if l.contains("plaintext broker listener") {
        Line::Refusal(
            "the listener does not serve TLS: set security.protocol \
             (KAFKA_PROPERTY_SECURITY_PROTOCOL) to PLAINTEXT or SASL_PLAINTEXT",
        )
    } else if l.contains("ssl handshake failed") {
        Line::Refusal(
            "the TLS handshake failed: check security.protocol (KAFKA_PROPERTY_SECURITY_PROTOCOL) \
             and the ssl.* settings against the listener",
        )
    } else if l.contains("ssl listener") {
        // librdkafka: "Disconnected while requesting ApiVersion: might be
        // caused by incorrect security.protocol configuration (connecting to
        // a SSL listener?)".
        Line::Refusal(TLS_LISTENER)
    } else if l.contains("unsupported sasl mechanism") {
        Line::Refusal(
            "the broker does not offer this SASL mechanism: \
             set sasl.mechanism (KAFKA_PROPERTY_SASL_MECHANISM) to one it lists",
        )
    } else if l.contains("mechanism handshake failed") {
        // A listener without SASL lists no mechanisms ("Request not valid in
        // current SASL state: broker's supported mechanisms: ").
        Line::Refusal(
            "the SASL handshake failed; a listener without SASL refuses it: check security.protocol \
             (KAFKA_PROPERTY_SECURITY_PROTOCOL: SASL_SSL, SASL_PLAINTEXT, or SSL, PLAINTEXT) \
             and sasl.mechanism",
        )
    } else if l.contains("sasl authentication error")
        || l.contains("authentication failed")
        || l.contains("invalid username or password")
    {
        Line::Refusal(
            "SASL authentication failed (a wrong user name or password?): check sasl.username \
             and sasl.password (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD) and sasl.mechanism",
        )
    } else if !tls_client && l.contains("disconnected") && l.contains("state apiversion_query") {
        Line::ClosedAtFirstRequest
    } else {
        Line::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka 2.12's words (logged against nisshi 0.8.1) → the setting named.
    #[test]
    fn librdkafkas_words_for_a_refusal_name_the_settings_to_check() {
        let cases = [
            (
                "[thrd:ssl://127.0.0.1:9093/bootstrap]: ssl://127.0.0.1:9093/bootstrap: SSL \
                 handshake failed: error:0A000086:SSL routines::certificate verify failed: broker \
                 certificate could not be verified, verify that ssl.ca.location is correctly \
                 configured or root CA certificates are installed (install ca-certificates \
                 package) (after 2ms in state SSL_HANDSHAKE)",
                "ssl.ca.location",
            ),
            (
                "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: Disconnected: connection \
                 reset by peer: connecting to a PLAINTEXT broker listener? (after 3ms in state \
                 SSL_HANDSHAKE)",
                "PLAINTEXT or SASL_PLAINTEXT",
            ),
            (
                "sasl_plaintext://127.0.0.1:9093/bootstrap: SASL authentication error: SASL SCRAM \
                 authentication failed: broker responded with invalid-proof (after 17ms in state \
                 AUTH_REQ)",
                "sasl.password",
            ),
            (
                "sasl_plaintext://127.0.0.1:9093/bootstrap: SASL PLAIN mechanism handshake \
                 failed: Broker: Unsupported SASL mechanism: broker's supported mechanisms: \
                 SCRAM-SHA-512,SCRAM-SHA-256 (after 0ms in state AUTH_HANDSHAKE)",
                "sasl.mechanism (",
            ),
            (
                "sasl_ssl://127.0.0.1:9093/bootstrap: SASL SCRAM-SHA-512 mechanism handshake \
                 failed: Broker: Request not valid in current SASL state: broker's supported \
                 mechanisms:  (after 4ms in state AUTH_HANDSHAKE)",
                "security.protocol",
            ),
        ];
        for (line, setting) in cases {
            let Line::Refusal(hint) = read_line(line) else {
                panic!("not a refusal: {line}");
            };
            assert!(hint.contains(setting), "{line}\n→ {hint}");
        }
        for outage in [
            "127.0.0.1:9093/bootstrap: Connect to ipv4#127.0.0.1:9093 failed: Connection refused \
             (after 0ms in state CONNECT)",
            "1/1 brokers are down",
            "127.0.0.1:9093/bootstrap: Disconnected (after 5002ms in state UP)",
            "ssl://127.0.0.1:9093/bootstrap: Disconnected: connection closed by peer: receive 0 \
             after POLLIN (after 0ms in state APIVERSION_QUERY)",
        ] {
            assert_eq!(read_line(outage), Line::Other, "{outage}");
        }
    }

    #[test]
    fn a_plaintext_connection_closed_at_its_first_request_twice_is_a_tls_listener() {
        let closed = "[thrd:127.0.0.1:9093/bootstrap]: 127.0.0.1:9093/bootstrap: Disconnected: \
             connection closed by peer: receive 0 after POLLIN (after 0ms in state APIVERSION_QUERY)";
        let context = ProbeContext::default();
        context.note(closed);
        context.note(&closed[closed.find("]: ").unwrap_or(0) + 3..]);
        assert_eq!(
            context.refusal(),
            None,
            "once (said twice) may be a broker going down"
        );
        context.note(&format!("{closed}, 1 identical error(s) suppressed"));
        let refusal = context.refusal().expect("twice: a TLS listener");
        assert!(
            refusal
                .what
                .starts_with("Disconnected: connection closed by peer")
        );
        assert!(refusal.hint.contains("SSL or SASL_SSL"), "{}", refusal.hint);
    }

    #[test]
    fn the_thread_and_broker_names_are_cut_from_the_line() {
        assert_eq!(
            tidy(
                "[thrd:ssl://127.0.0.1:9093/bootstrap]: ssl://127.0.0.1:9093/bootstrap: \
                 SSL handshake failed: x"
            ),
            "SSL handshake failed: x"
        );
        assert_eq!(
            tidy(
                "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: \
                 ../ssl/statem/statem_clnt.c:1889:tls_post_process_server_certificate \
                 error:0A000086:SSL routines::certificate verify failed"
            ),
            "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed"
        );
        assert_eq!(
            tidy(
                "Disconnected: connection closed by peer: receive 0 after POLLIN (after 0ms in \
                 state APIVERSION_QUERY, 12 identical error(s) suppressed)"
            ),
            "Disconnected: connection closed by peer: receive 0 after POLLIN (after 0ms in \
             state APIVERSION_QUERY)"
        );
        assert_eq!(tidy("1/1 brokers are down"), "1/1 brokers are down");
    }
}
