//! [`send_when_room`]: hand one record to a `BaseProducer`, and while its
//! local queue is full (`QueueFull`), serve acknowledgements until there is
//! room. For the producers outside the stream loop (`generate --topic`,
//! claims publishing, `claims sync`); the stream loop's own sink waits with
//! a stop check and counts the time blocked (`records`).

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

/// How long one wait for room serves acknowledgements.
const ROOM_WAIT: Duration = Duration::from_millis(10);

/// Send `record`, waiting for room in the producer's queue as long as it is full.
pub(crate) fn send_when_room<'a, C, K, P>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
) -> Result<(), KafkaError>
where
    C: ProducerContext,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(ROOM_WAIT);
                record = back;
            }
            Err((e, _)) => return Err(e),
        }
    }
}
