//! The fleet's plugin topic (`deploy.topic`, compacted, one partition): how N
//! hosts in a consumer group converge on one plugin version without being told
//! one by one.
//!
//! Records, by key:
//! - `plugin/<name>@<version>`: the component's bytes, gzip-compressed with
//!   header `encoding: gzip` (`fleet_record`; a record without it, from before,
//!   holds them as they are), header `name` when the deployer renamed it;
//!   header `signature`, its detached ed25519 signature over the component's
//!   own bytes as base64, when it has one. Versions are immutable, so compaction keeps
//!   each one. A host requiring signed plugins (`deploy.trusted-keys`) refuses
//!   a record whose signature is missing or does not verify: it never runs,
//!   and `plugin status` lists it as rejected.
//! - `active`: `{"history": [...], "reason", "at_ms"}`, the activation
//!   history whose last entry every host should run. Compaction keeps the latest.
//!
//! A deploy publishes the bytes, then the new history; a rollback publishes a
//! history one step shorter. Every host's [`FleetWatcher`] checks each new
//! version itself (a version failing here never runs here) and activates what
//! `active` names; the pipeline swaps at its next commit boundary. A host that
//! starts later reads the topic to its end before it processes anything.
//!
//! A broker that restarts without its state makes the idempotent producer
//! fatal (`UnknownProducerId`); the publisher then makes a new one (logged at
//! warn level) and sends again, so deploys keep working. The topic itself,
//! gone with the broker's data, is recreated by the watcher (`fleet_keeper`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::{Deserialize, Serialize};

use super::MAX_PLUGIN_BYTES as MAX_COMPONENT_BYTES;
use super::deployer::Deployer;
use super::fleet::Fleet;
use super::fleet_keeper::{Problem, TopicKeeper, assign_all, publish_baseline};
use super::fleet_record::{self, ENCODING_HEADER, GZIP};
use super::names;
use crate::clock::now_ms;
use crate::config::{KafkaConfig, TopicShape};
use crate::kafka::KafkaRunError;
use crate::kafka::clients::{MAX_PLUGIN_BYTES, plugin_consumer_config, plugin_producer_config};
use crate::kafka::topics::create_compacted_topic;

const ACTIVE_KEY: &str = "active";
const PLUGIN_PREFIX: &str = "plugin/";
const NAME_HEADER: &str = "name";
const SIGNATURE_HEADER: &str = "signature";
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The value of an `active` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ActiveRecord {
    history: Vec<String>,
    reason: String,
    at_ms: i64,
}

/// Writes deployments and rollbacks to the fleet topic.
pub struct FleetPublisher {
    /// Replaced when it goes fatal.
    producer: RwLock<Arc<BaseProducer>>,
    config: KafkaConfig,
    topic: String,
    /// How the topic is created (again, when it vanished).
    shape: TopicShape,
}

impl FleetPublisher {
    /// Connect, creating the topic (compacted, `shape`) if it is missing.
    pub fn connect(
        config: &KafkaConfig,
        topic: &str,
        shape: TopicShape,
    ) -> Result<Self, KafkaRunError> {
        create_compacted_topic(config, topic, shape, MAX_PLUGIN_BYTES)?;
        let producer = plugin_producer_config(config)
            .create()
            .map_err(|e| KafkaRunError::Client(format!("plugin topic producer: {e}")))?;
        Ok(Self {
            producer: RwLock::new(Arc::new(producer)),
            config: config.clone(),
            topic: topic.to_owned(),
            shape,
        })
    }

    /// The settings the topic is created with.
    pub(super) fn settings(&self) -> (&KafkaConfig, TopicShape) {
        (&self.config, self.shape)
    }

    /// The producer, recreated first if it went fatal.
    fn producer(&self) -> Result<Arc<BaseProducer>, String> {
        let current = Arc::clone(
            &self
                .producer
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let Some((code, why)) = current.client().fatal_error() else {
            return Ok(current);
        };
        self.replace_producer(&format!("is fatal ({code:?}: {why})"))
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// A new producer in place of the current one, which `why` (logged).
    fn replace_producer(&self, why: &str) -> Result<Arc<BaseProducer>, String> {
        tracing::warn!(topic = %self.topic, "the plugin topic producer {why}; making a new one");
        let fresh: Arc<BaseProducer> = Arc::new(
            plugin_producer_config(&self.config)
                .create()
                .map_err(|e| format!("plugin topic producer: {e}"))?,
        );
        *self
            .producer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// Send the record `make` builds and wait for the acknowledgement; a
    /// producer that went fatal on the way is recreated and the record sent
    /// once more.
    fn send<'r>(&self, make: impl Fn() -> BaseRecord<'r, str, [u8]>) -> Result<(), String> {
        let producer = self.producer()?;
        match self.send_once(&producer, make()) {
            Err(first) if producer.client().fatal_error().is_some() => {
                let fresh = self.producer()?;
                self.send_once(&fresh, make())
                    .map_err(|e| format!("{e} (after a fatal producer: {first})"))
            }
            // Not acknowledged in time: a producer stuck after a broker restart
            // delivers nothing; a new one is tried once.
            Err(first) if first.contains("Timed out") || first.contains("not acknowledged") => {
                let fresh = self.replace_producer("delivered nothing in time")?;
                self.send_once(&fresh, make())
                    .map_err(|e| format!("{e} (after a producer that delivered nothing: {first})"))
            }
            other => other,
        }
    }

    fn send_once(
        &self,
        producer: &BaseProducer,
        record: BaseRecord<'_, str, [u8]>,
    ) -> Result<(), String> {
        // Every record goes to partition 0 whatever the topic's partition
        // count, so a version's bytes always precede the `active` naming it.
        producer
            .send(record.partition(0))
            .map_err(|(e, _)| format!("producing to {}: {e}", self.topic))?;
        // Idempotent, acks=all: a flush that returns Ok means the broker has it.
        producer
            .flush(SEND_TIMEOUT)
            .map_err(|e| format!("producing to {}: {e}", self.topic))?;
        if producer.in_flight_count() > 0 {
            return Err(format!(
                "producing to {}: not acknowledged in time",
                self.topic
            ));
        }
        // A producer that went fatal drops its records without a flush error.
        if let Some((code, why)) = producer.client().fatal_error() {
            return Err(format!(
                "producing to {}: the producer is fatal ({code:?}: {why})",
                self.topic
            ));
        }
        Ok(())
    }
}

impl Fleet for FleetPublisher {
    fn topic(&self) -> Option<&str> {
        Some(&self.topic)
    }

    /// Publish a version's bytes, acknowledged by the broker before returning.
    fn publish_plugin(
        &self,
        key: &str,
        name: Option<&str>,
        bytes: &[u8],
        signature: Option<&str>,
    ) -> Result<(), String> {
        let payload = fleet_record::encode(bytes).map_err(|e| format!("compressing: {e}"))?;
        if payload.len() > MAX_PLUGIN_BYTES {
            return Err(format!(
                "the component is {} bytes, {} compressed; the plugin topic takes at most {MAX_PLUGIN_BYTES}",
                bytes.len(),
                payload.len()
            ));
        }
        let record_key = format!("{PLUGIN_PREFIX}{key}");
        self.send(|| {
            let record = BaseRecord::<str, [u8]>::to(&self.topic)
                .key(&record_key)
                .payload(&payload[..]);
            let mut headers = OwnedHeaders::new().insert(Header {
                key: ENCODING_HEADER,
                value: Some(GZIP),
            });
            if let Some(name) = name {
                headers = headers.insert(Header {
                    key: NAME_HEADER,
                    value: Some(name.as_bytes()),
                });
            }
            if let Some(signature) = signature {
                headers = headers.insert(Header {
                    key: SIGNATURE_HEADER,
                    value: Some(signature.as_bytes()),
                });
            }
            record.headers(headers)
        })
    }

    /// Publish the activation history every host should follow.
    fn publish_active(&self, history: &[String], reason: &str) -> Result<(), String> {
        let value = serde_json::to_vec(&ActiveRecord {
            history: history.to_vec(),
            reason: reason.to_owned(),
            at_ms: now_ms(),
        })
        .map_err(|e| e.to_string())?;
        self.send(|| BaseRecord::to(&self.topic).key(ACTIVE_KEY).payload(&value))
    }
}

/// Follows the fleet topic on its own thread; stops when dropped.
pub struct FleetWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    problem: Problem,
}

impl FleetWatcher {
    /// Read the topic to its end, so this host starts on the fleet's version
    /// (publishing its own as the baseline when the topic is empty), then follow it.
    pub fn start(
        config: &KafkaConfig,
        deployer: Arc<Deployer>,
        publisher: &Arc<FleetPublisher>,
        catch_up: Duration,
    ) -> Result<Self, KafkaRunError> {
        let topic = publisher.topic().to_owned();
        let consumer: BaseConsumer = plugin_consumer_config(config)
            .create()
            .map_err(|e| KafkaRunError::Client(format!("plugin topic consumer: {e}")))?;
        let ends = assign_all(&consumer, &topic)?;
        let mut applied_any = false;
        let deadline = Instant::now() + catch_up;
        let mut remaining = ends.clone();
        while !remaining.is_empty() && Instant::now() < deadline {
            if let Some(Ok(msg)) = consumer.poll(Duration::from_millis(100)) {
                apply(&deployer, &msg);
                applied_any = true;
                remaining.retain(|(p, end)| !(*p == msg.partition() && msg.offset() + 1 >= *end));
            }
        }
        if !remaining.is_empty() {
            return Err(KafkaRunError::GaveUp(format!(
                "reading plugin topic {topic} to its end took longer than {catch_up:?}"
            )));
        }
        if !applied_any {
            publish_baseline(&deployer, publisher.as_ref());
        }
        tracing::info!(topic, version = %deployer.desired_key(), "plugin topic read; following it");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let problem = Problem::default();
        let mut keeper = TopicKeeper::new(
            Arc::clone(publisher) as Arc<dyn Fleet>,
            publisher.settings(),
            Arc::clone(&deployer),
            Arc::clone(&problem),
        );
        let thread = std::thread::Builder::new()
            .name("plugin-topic".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(msg)) => apply(&deployer, &msg),
                        Some(Err(e)) => tracing::warn!("plugin topic: {e}"),
                        None => {}
                    }
                    keeper.look(&consumer);
                }
            })
            .map_err(|e| KafkaRunError::Client(format!("plugin topic thread: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
            problem,
        })
    }

    /// Asks why the plugin topic cannot be followed now, if it cannot
    /// (readiness holds it beyond the watcher's borrow).
    pub fn problem_handle(&self) -> impl Fn() -> Option<String> + Send + Sync + 'static {
        let problem = Arc::clone(&self.problem);
        move || {
            problem
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        }
    }
}

impl Drop for FleetWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Act on one record of the topic. A record naming a plugin outside the safe
/// names (`names`) is refused and reported, never applied.
fn apply(deployer: &Deployer, msg: &impl Message) {
    let key = msg
        .key()
        .and_then(|k| std::str::from_utf8(k).ok())
        .unwrap_or_default();
    let payload = msg.payload().unwrap_or_default();
    if let Some(version) = key.strip_prefix(PLUGIN_PREFIX) {
        if let Err(why) = names::check_key(version) {
            return deployer.note_event(format!("fleet plugin record refused here: {why}"));
        }
        if deployer.knows(version) {
            return;
        }
        let name = header(msg, NAME_HEADER).and_then(|v| std::str::from_utf8(v).ok());
        let signature = header(msg, SIGNATURE_HEADER);
        let component = match fleet_record::decode(
            payload,
            header(msg, ENCODING_HEADER),
            MAX_COMPONENT_BYTES,
        ) {
            Ok(component) => component,
            Err(e) => return deployer.note_rejected(version, "fleet topic", &e.to_string()),
        };
        match deployer.learn(&component, name, signature) {
            Ok((learned, _)) => {
                tracing::info!(version = %learned, "plugin version from the fleet topic passed its checks")
            }
            Err(e) => deployer.note_rejected(version, "fleet topic", &e.to_string()),
        }
    } else if key == ACTIVE_KEY {
        match serde_json::from_slice::<ActiveRecord>(payload) {
            Ok(active) => {
                if let Some(why) = active
                    .history
                    .iter()
                    .find_map(|k| names::check_key(k).err())
                {
                    return deployer.note_event(format!("fleet activation refused here: {why}"));
                }
                if let Err(e) = deployer.activate(active.history, &active.reason) {
                    deployer.note_event(format!("fleet activation not followed: {e}"));
                }
            }
            Err(e) => deployer.note_event(format!(
                "unreadable `active` record on the plugin topic: {e}"
            )),
        }
    }
}

/// The value of header `key` of `msg`, if it has one.
fn header<'m>(msg: &'m impl Message, key: &str) -> Option<&'m [u8]> {
    msg.headers()?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
}
