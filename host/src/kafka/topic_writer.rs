//! [`TopicWriter`]: JSON lines written to a topic, one record each, keyed by
//! the line's `claim_id` (`enricher generate --topic`, the benchmarks' load).

use std::io::Write;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::{Refusals, load_producer_config};
use crate::config::Config;

/// An `io::Write` that produces each line as one record, keyed by its `claim_id`.
/// `flush` fails when the broker refused any record.
pub struct TopicWriter {
    producer: BaseProducer<Refusals>,
    topic: String,
    pending: Vec<u8>,
    pub sent: u64,
}

impl TopicWriter {
    pub fn new(config: &Config, topic: &str) -> Result<Self, KafkaError> {
        let producer: BaseProducer<Refusals> =
            load_producer_config(&config.kafka).create_with_context(Refusals::new("a record"))?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            pending: Vec::new(),
            sent: 0,
        })
    }

    fn send_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        #[derive(serde::Deserialize)]
        struct Key<'a> {
            #[serde(borrow)]
            claim_id: Option<&'a str>,
        }
        let key = serde_json::from_slice::<Key<'_>>(line)
            .ok()
            .and_then(|k| k.claim_id)
            .map(str::as_bytes);
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic).payload(line);
        if let Some(key) = key {
            record = record.key(key);
        }
        super::send_when_room(&self.producer, record).map_err(std::io::Error::other)?;
        self.sent += 1;
        self.producer.poll(Duration::ZERO);
        Ok(())
    }
}

impl Write for TopicWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut start = 0;
        while let Some(at) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let line = self.pending[start..start + at].to_vec();
            self.send_line(&line)?;
            start += at + 1;
        }
        self.pending.drain(..start);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.producer
            .flush(Duration::from_secs(30))
            .map_err(std::io::Error::other)?;
        match self.producer.context().count() {
            0 => Ok(()),
            n => Err(std::io::Error::other(format!(
                "{n} of {} record(s) were refused by the broker (see the warning above)",
                self.sent
            ))),
        }
    }
}
