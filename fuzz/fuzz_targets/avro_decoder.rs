//! The Avro path: any datum bytes read against the event schema (schemas/event.avsc), then
//! mapped to an event; never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use apache_avro::Schema;
use libfuzzer_sys::fuzz_target;
use railyard::event::Origin;
use railyard::kafka::avro::event_from_value;

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        Schema::parse_str(include_str!("../../schemas/event.avsc")).expect("event schema")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    let datum = apache_avro::reader::datum::GenericDatumReader::builder(schema())
        .build()
        .expect("a reader for the event schema");
    if let Ok(value) = datum.read_value(&mut reader) {
        let origin = Origin::Kafka {
            topic: Arc::from("fuzz"),
            partition: 0,
            offset: 0,
        };
        let _ = event_from_value(value, origin);
    }
});
