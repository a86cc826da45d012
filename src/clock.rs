//! Ids and instants of runs and documents: ULIDs that sort by the time they were made, and
//! RFC 3339 timestamps with microseconds. Nothing here reads or writes the store.

use std::sync::Mutex;
use std::time::SystemTime;

/// A unique id, larger than every id this process made before (ULIDs sort by time).
pub(crate) fn new_ulid() -> ulid::Ulid {
    new_ulid_at(SystemTime::now())
}

/// A unique id for an instant (its millisecond leads the id, so ids sort by start time).
pub(crate) fn new_ulid_at(instant: SystemTime) -> ulid::Ulid {
    static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    generator
        .get_or_insert_with(ulid::Generator::new)
        .generate_from_datetime(instant)
        .unwrap_or_else(|_| ulid::Ulid::from_datetime(instant))
}

/// Now, as RFC 3339 with microseconds.
pub(crate) fn now_rfc3339() -> String {
    format!("{:.6}", jiff::Timestamp::now())
}
