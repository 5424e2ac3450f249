//! Kafka runtime pieces. `offsets` is the pure at-least-once bookkeeping (no rdkafka types):
//! an input offset is committed only once every output of the event, and of every event
//! before it on the partition, has been acknowledged.

pub mod offsets;
