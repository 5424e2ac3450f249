//! The JSON event decoder: any bytes either decode to an event or fail with a reason; never
//! a panic, never an unbounded allocation.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use railyard::codec::{decode_json, DeadLetter};
use railyard::event::Origin;

fuzz_target!(|data: &[u8]| {
    let origin = Origin::Line {
        source: Arc::from("fuzz"),
        line: 1,
    };
    match decode_json(data, origin.clone(), 64 * 1024) {
        Ok(event) => assert!(event.text.len() <= data.len()),
        Err(error) => {
            // The dead letter for it must build and serialize too.
            let dead = DeadLetter::new(&error, origin, data, data.len());
            let text = serde_json::to_string(&dead).expect("dead letters serialize");
            assert!(text.starts_with('{'));
        }
    }
});
