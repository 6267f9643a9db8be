//! The broker's own record of which transactions committed, read from the
//! log itself. A raw Fetch at `read_uncommitted` (nothing hidden) of every
//! partition of a topic returns each record with its batch's producer id,
//! epoch and transactional flag, and the commit and abort markers the broker
//! wrote at each `EndTxn` (control records). `committed` replays them as a
//! `read_committed` consumer of Apache Kafka does: a transactional record is
//! visible once a COMMIT marker of its producer follows it, gone after an
//! ABORT, and invisible while neither has come (an open transaction).
//!
//! This exists because the transactional test broker (Tansu) writes the
//! markers but does not filter by them: its `read_committed` readers also get
//! aborted records. librdkafka drops control records before the application
//! sees them, so the markers are read with `kafka-protocol` here.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{Record, RecordBatchDecoder};

/// Fetch v4: the first version with `isolation_level` and record batches v2.
const FETCH_VERSION: i16 = 4;
/// `read_uncommitted`: the broker hides nothing.
const READ_UNCOMMITTED: i8 = 0;
/// The control record types (the key's second i16).
const ABORT: i16 = 0;
const COMMIT: i16 = 1;

/// One record as the log holds it.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub partition: i32,
    pub offset: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The producer's sequence number of this record (idempotence).
    pub sequence: i32,
    pub transactional: bool,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What a topic's log holds: data records and the outcome markers.
#[derive(Debug, Default)]
pub struct Log {
    pub records: Vec<LogRecord>,
    /// Per partition, in offset order: (offset, producer id, committed?).
    pub markers: Vec<(i32, i64, i64, bool)>,
}

impl Log {
    /// The records a `read_committed` consumer may see: non-transactional
    /// ones, and transactional ones a COMMIT marker of their producer ends.
    pub fn committed(&self) -> Vec<&LogRecord> {
        self.outcomes().0
    }

    /// Transactional records an ABORT marker ends (what the crash cost).
    pub fn aborted(&self) -> Vec<&LogRecord> {
        self.outcomes().1
    }

    /// Transactional records no marker ends yet (an open transaction).
    pub fn open(&self) -> Vec<&LogRecord> {
        self.outcomes().2
    }

    fn outcomes(&self) -> (Vec<&LogRecord>, Vec<&LogRecord>, Vec<&LogRecord>) {
        let mut committed = Vec::new();
        let mut aborted = Vec::new();
        // (partition, producer id) → its records since its last marker.
        let mut pending: HashMap<(i32, i64), Vec<&LogRecord>> = HashMap::new();
        let mut events: Vec<(i32, i64, Option<&LogRecord>, Option<(i64, bool)>)> = self
            .records
            .iter()
            .map(|r| (r.partition, r.offset, Some(r), None))
            .chain(
                self.markers
                    .iter()
                    .map(|&(p, off, pid, commit)| (p, off, None, Some((pid, commit)))),
            )
            .collect();
        events.sort_by_key(|e| (e.0, e.1));
        for (partition, _, record, marker) in events {
            match (record, marker) {
                (Some(r), _) if !r.transactional => committed.push(r),
                (Some(r), _) => pending
                    .entry((partition, r.producer_id))
                    .or_default()
                    .push(r),
                (None, Some((pid, commit))) => {
                    let ended = pending.remove(&(partition, pid)).unwrap_or_default();
                    if commit {
                        committed.extend(ended);
                    } else {
                        aborted.extend(ended);
                    }
                }
                (None, None) => unreachable!(),
            }
        }
        let open = pending.into_values().flatten().collect();
        (committed, aborted, open)
    }
}

/// Every record and marker of `topic`'s `partitions`, from offset 0 to the
/// high watermark, from the single broker at `broker` (`host:port`).
pub fn read(broker: &str, topic: &str, partitions: i32) -> Log {
    let mut conn = Connection::open(broker);
    let mut log = Log::default();
    for partition in 0..partitions {
        let mut next = 0i64;
        loop {
            let (high_watermark, batch) = conn.fetch(topic, partition, next);
            let mut buf = batch.unwrap_or_default();
            let mut advanced = false;
            while !buf.is_empty() {
                let set = RecordBatchDecoder::decode(&mut buf)
                    .unwrap_or_else(|e| panic!("{topic}/{partition} at {next}: {e}"));
                for record in set.records {
                    if record.offset < next {
                        continue;
                    }
                    next = record.offset + 1;
                    advanced = true;
                    push(&mut log, partition, record);
                }
            }
            if next >= high_watermark {
                break;
            }
            assert!(
                advanced,
                "{topic}/{partition}: no record at {next} below the high watermark {high_watermark}"
            );
        }
    }
    log
}

fn push(log: &mut Log, partition: i32, record: Record) {
    if record.control {
        let key = record.key.as_deref().unwrap_or_default();
        let kind = i16::from_be_bytes([key[2], key[3]]);
        assert!(
            kind == ABORT || kind == COMMIT,
            "control record of type {kind}"
        );
        log.markers
            .push((partition, record.offset, record.producer_id, kind == COMMIT));
        return;
    }
    log.records.push(LogRecord {
        partition,
        offset: record.offset,
        producer_id: record.producer_id,
        producer_epoch: record.producer_epoch,
        sequence: record.sequence,
        transactional: record.transactional,
        value: record.value,
        headers: record
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    });
}

/// One connection speaking Fetch v4.
struct Connection {
    stream: TcpStream,
    correlation: i32,
}

impl Connection {
    fn open(broker: &str) -> Self {
        let stream = TcpStream::connect(broker).unwrap_or_else(|e| panic!("{broker}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Self {
            stream,
            correlation: 0,
        }
    }

    /// The high watermark and the record batches from `offset` on.
    fn fetch(&mut self, topic: &str, partition: i32, offset: i64) -> (i64, Option<Bytes>) {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Fetch as i16)
            .with_request_api_version(FETCH_VERSION)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("raw-log")));
        let request = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(8 << 20)
            .with_isolation_level(READ_UNCOMMITTED)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(4 << 20),
                    ]),
            ]);
        let mut body = BytesMut::new();
        header
            .encode(&mut body, FetchRequest::header_version(FETCH_VERSION))
            .expect("header");
        request.encode(&mut body, FETCH_VERSION).expect("fetch");
        let size = i32::try_from(body.len()).expect("size");
        self.stream.write_all(&size.to_be_bytes()).expect("send");
        self.stream.write_all(&body).expect("send");

        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).expect("answer size");
        let mut answer = vec![0u8; usize::try_from(i32::from_be_bytes(size)).expect("size")];
        self.stream.read_exact(&mut answer).expect("answer");
        let mut answer = Bytes::from(answer);
        let got = ResponseHeader::decode(&mut answer, FetchResponse::header_version(FETCH_VERSION))
            .expect("response header");
        assert_eq!(got.correlation_id, self.correlation, "answers in order");
        let response = FetchResponse::decode(&mut answer, FETCH_VERSION).expect("fetch answer");
        let data = response
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .unwrap_or_else(|| panic!("no answer for {topic}/{partition}"));
        assert_eq!(
            data.error_code, 0,
            "{topic}/{partition}: error {}",
            data.error_code
        );
        (data.high_watermark, data.records)
    }
}
