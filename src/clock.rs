//! Ids and instants of runs and documents: ULIDs that sort by the time they were made, and
//! RFC 3339 timestamps with microseconds. Nothing here reads or writes the store.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

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
    rfc3339(SystemTime::now())
}

/// The last Unix second jiff's `Timestamp` holds (late on 9999-12-30; RFC 3339 years have
/// four digits): past it, jiff refuses the instant, and so does [`rfc3339`].
const LAST_SECOND: u64 = 253_402_207_200;

/// `instant` as RFC 3339 in UTC with microseconds (`2026-11-25T14:00:00.000000Z`): the text
/// jiff writes for a `Timestamp` with `{:.6}`, written here directly (every run and every
/// audit entry has one; jiff's formatter took a sixth of a point read's own time). An
/// instant before 1970 or past [`LAST_SECOND`] is left to jiff.
pub(crate) fn rfc3339(instant: SystemTime) -> String {
    let since = match instant.duration_since(UNIX_EPOCH) {
        Ok(since) if since.as_secs() <= LAST_SECOND => since,
        _ => {
            return jiff::Timestamp::try_from(instant).map_or_else(
                |_| format!("{:.6}", jiff::Timestamp::now()),
                |t| format!("{t:.6}"),
            );
        }
    };
    let seconds = since.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let of_day = seconds % 86_400;
    let mut text = [0u8; 27];
    let mut at = 0;
    let mut put = |value: u64, digits: u32, then: u8| {
        for i in (0..digits).rev() {
            text[at] = b'0' + (value / 10u64.pow(i) % 10) as u8;
            at += 1;
        }
        text[at] = then;
        at += 1;
    };
    put(year, 4, b'-');
    put(month, 2, b'-');
    put(day, 2, b'T');
    put(of_day / 3600, 2, b':');
    put(of_day / 60 % 60, 2, b':');
    put(of_day % 60, 2, b'.');
    put(u64::from(since.subsec_micros()), 6, b'Z');
    // Digits and separators only: ASCII, so one copy into a string of exactly this size.
    String::from_utf8(text.to_vec()).expect("a timestamp is ASCII")
}

/// The proleptic Gregorian (year, month, day) of day `days` after 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn by_jiff(instant: SystemTime) -> String {
        format!("{:.6}", jiff::Timestamp::try_from(instant).unwrap())
    }

    #[test]
    fn instants_are_written_as_jiff_writes_them_at_the_calendars_edges() {
        let days = |d: u64| Duration::from_secs(d * 86_400);
        let mut edges = vec![
            Duration::ZERO,
            Duration::from_nanos(999),
            Duration::new(LAST_SECOND, 999_999_999),
        ];
        // Every day boundary of the leap-year rules' cases: 1972, 2000, 2100, 2400 ...
        for day in (0..150_000)
            .step_by(59)
            .chain(10_955..11_050)
            .chain(47_480..47_500)
        {
            edges.push(days(day));
            edges.push(days(day) + Duration::from_micros(86_399_999_999));
        }
        for since in edges {
            let instant = UNIX_EPOCH + since;
            assert_eq!(rfc3339(instant), by_jiff(instant), "{since:?}");
        }
        let before = UNIX_EPOCH - Duration::from_micros(1_500_001);
        assert_eq!(
            rfc3339(before),
            by_jiff(before),
            "before 1970: jiff's own text"
        );
    }

    proptest! {
        #[test]
        fn any_instant_is_written_as_jiff_writes_it(secs in 0..=LAST_SECOND, nanos in 0..1_000_000_000u32) {
            let instant = UNIX_EPOCH + Duration::new(secs, nanos);
            prop_assert_eq!(rfc3339(instant), by_jiff(instant));
        }
    }
}
