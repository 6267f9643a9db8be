//! The group watch: a management thread beside the stream (the stream never
//! waits on it) that every few seconds asks the broker two things and
//! publishes the answers to the [`Health`] (readiness) and the
//! [`StreamMeter`] (the status line):
//!
//! - whether the input topics exist: a missing one is a readiness condition
//!   naming it, warned about again every `kafka.stall-warning` while it lasts;
//! - who the consumer group's members are (ListGroups/DescribeGroups): a
//!   member whose client id and member id do not begin with an enricher
//!   host's prefix (`enricher-`, or the user's `client.id`) is another
//!   application taking partitions (and their payments) from the hosts:
//!   warned about, named in `/readyz` and on the status line.
//!
//! A question the broker does not answer changes nothing (the broker watch
//! reports an unreachable broker).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::clients::{our_member_prefixes, probe_config};
use crate::config::KafkaConfig;
use crate::health::Health;
use crate::observe::StreamMeter;

/// How often the broker is asked.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How long one question may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);
const TICK: Duration = Duration::from_millis(100);
/// Readiness conditions.
const INPUT: &str = "input-topic";
const FOREIGN: &str = "foreign-members";

/// A member of the group as the broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) host: String,
}

/// Members that are not enricher hosts: none of their ids begins with one of `ours`.
pub(crate) fn foreign(members: &[Member], ours: &[String]) -> Vec<Member> {
    members
        .iter()
        .filter(|m| {
            !ours.iter().any(|prefix| {
                m.client_id.starts_with(prefix.as_str()) || m.id.starts_with(prefix.as_str())
            })
        })
        .cloned()
        .collect()
}

/// How foreign members are named (readiness, log, status line).
fn describe(group: &str, foreign: &[Member]) -> String {
    let names: Vec<String> = foreign
        .iter()
        .map(|m| {
            let client = if m.client_id.is_empty() {
                String::new()
            } else {
                format!(", client id {}", m.client_id)
            };
            let host = if m.host.is_empty() {
                String::new()
            } else {
                format!(", host {}", m.host.trim_start_matches('/'))
            };
            format!("{}{client}{host}", m.id)
        })
        .collect();
    format!(
        "consumer group {group} holds {} member(s) that are not enricher hosts and take \
         partitions (and their payments) from them: {}",
        foreign.len(),
        names.join("; ")
    )
}

/// The running watch; dropping it stops the thread.
pub(crate) struct GroupWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Watch {
    client: BaseConsumer,
    group: String,
    topics: Vec<String>,
    ours: Vec<String>,
    repeat: Duration,
    health: Health,
    meter: Arc<StreamMeter>,
    /// When the missing topics were last warned about, and which.
    missing_said: Option<(Instant, Vec<String>)>,
    foreign_said: Option<(Instant, Vec<Member>)>,
}

impl GroupWatch {
    /// Watch `topics` and the group of `config`; `None` when no client can be made (logged).
    pub(crate) fn start(
        config: &KafkaConfig,
        topics: Vec<String>,
        health: Health,
        meter: Arc<StreamMeter>,
    ) -> Option<Self> {
        let client: BaseConsumer = match probe_config(config).create() {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(
                    "the group watch has no Kafka client ({e}): members and topics go unchecked"
                );
                return None;
            }
        };
        let mut watch = Watch {
            client,
            group: config.group_id.clone(),
            topics,
            ours: our_member_prefixes(config),
            repeat: config.stall_warning,
            health,
            meter,
            missing_said: None,
            foreign_said: None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("group-watch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    watch.check_topics();
                    watch.check_members();
                    let until = Instant::now() + CHECK_EVERY;
                    while Instant::now() < until && !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                    }
                }
            })
            .ok()?;
        Some(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for GroupWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Watch {
    /// Say whether each input topic exists.
    fn check_topics(&mut self) {
        let mut missing = Vec::new();
        for topic in &self.topics {
            match self.client.fetch_metadata(Some(topic), ASK_TIMEOUT) {
                Ok(m) => {
                    let there = m.topics().iter().any(|t| {
                        t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                    });
                    if !there {
                        missing.push(topic.clone());
                    }
                }
                Err(_) => return,
            }
        }
        if missing.is_empty() {
            if self.health.set_condition(INPUT, None) {
                tracing::warn!(topics = ?self.topics, "input topic(s) exist now");
            }
            self.missing_said = None;
            return;
        }
        let why = format!(
            "input topic(s) {} do not exist on the broker: nothing is consumed until created \
             (kafka.payment-events-topic / PAYMENT_EVENTS_TOPIC)",
            missing.join(", ")
        );
        let due = match &self.missing_said {
            Some((at, said)) => *said != missing || at.elapsed() >= self.repeat,
            None => true,
        };
        if due {
            tracing::warn!(topics = ?missing, "{why}");
            self.missing_said = Some((Instant::now(), missing));
        }
        self.health.set_condition(INPUT, Some(why));
    }

    /// Name the members of the group that are not enricher hosts.
    fn check_members(&mut self) {
        let list = match self.client.fetch_group_list(Some(&self.group), ASK_TIMEOUT) {
            Ok(list) => list,
            Err(e) => {
                tracing::debug!(group = %self.group, "describing the consumer group: {e}");
                return;
            }
        };
        let members: Vec<Member> = list
            .groups()
            .iter()
            .filter(|g| g.name() == self.group)
            .flat_map(|g| g.members())
            .map(|m| Member {
                id: m.id().to_owned(),
                client_id: m.client_id().to_owned(),
                host: m.client_host().to_owned(),
            })
            .collect();
        let others = foreign(&members, &self.ours);
        if others.is_empty() {
            if self.health.set_condition(FOREIGN, None) {
                tracing::warn!(group = %self.group, "consumer group {} holds only enricher hosts again", self.group);
                self.meter.set_group_note(None);
            }
            self.foreign_said = None;
            return;
        }
        let why = describe(&self.group, &others);
        let due = match &self.foreign_said {
            Some((at, said)) => *said != others || at.elapsed() >= self.repeat,
            None => true,
        };
        if due {
            tracing::warn!(group = %self.group, "{why}");
            self.foreign_said = Some((Instant::now(), others.clone()));
        }
        let names: Vec<&str> = others.iter().map(|m| m.id.as_str()).collect();
        self.meter.set_group_note(Some(format!(
            "group {}: {} member(s) not enricher hosts ({})",
            self.group,
            others.len(),
            names.join(", ")
        )));
        self.health.set_condition(FOREIGN, Some(why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, client_id: &str) -> Member {
        Member {
            id: id.into(),
            client_id: client_id.into(),
            host: "/10.0.0.9".into(),
        }
    }

    #[test]
    fn members_are_ours_by_client_id_or_member_id_prefix() {
        let ours = vec!["enricher-".to_owned(), "payments".to_owned()];
        let members = [
            member("enricher-pod-1-1f2e", "enricher-pod-1"),
            // A broker that does not report client ids (nisshi): the member id says it.
            member("enricher-pod-2-77aa", ""),
            member("payments-9c1d", "payments"),
            member("audit-3a4b", "audit"),
            member("rdkafka-5e6f", ""),
        ];
        let others = foreign(&members, &ours);
        let ids: Vec<&str> = others.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["audit-3a4b", "rdkafka-5e6f"]);
        let text = describe("payment-enricher", &others);
        assert!(
            text.contains("2 member(s) that are not enricher hosts"),
            "{text}"
        );
        assert!(
            text.contains("audit-3a4b, client id audit, host 10.0.0.9"),
            "{text}"
        );
    }
}
