//! Times as the shop's staff read and type them: in the shop's time zone (`time_zone`), on a
//! 24-hour clock, "Today 10:04", "Yesterday 18:30", "3 Dec 09:00", with the full time for a
//! hover. The database and the JSON API keep UTC; only the pages convert, here.

use chrono::{DateTime, Datelike, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// The value of an `<input type="datetime-local">`: what it shows and what it sends.
const INPUT: &str = "%Y-%m-%dT%H:%M";
/// Browsers send seconds when the value has them.
const INPUT_SECONDS: &str = "%Y-%m-%dT%H:%M:%S";

/// A moment as a page shows it: short text, the full time for `title`, and the UTC instant
/// for `<time datetime>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HumanTime {
    pub text: String,
    pub full: String,
    pub iso: String,
}

fn at(zone: Tz, unix_ms: i64) -> Option<DateTime<Tz>> {
    DateTime::<Utc>::from_timestamp_millis(unix_ms).map(|t| t.with_timezone(&zone))
}

/// `unix_ms` as the admin reads it, relative to `now_ms` ("Today", "Yesterday", "Tomorrow").
pub fn human(zone: Tz, unix_ms: i64, now_ms: i64) -> HumanTime {
    let (Some(t), Some(now)) = (at(zone, unix_ms), at(zone, now_ms)) else {
        let raw = unix_ms.to_string();
        return HumanTime {
            text: raw.clone(),
            full: raw.clone(),
            iso: raw,
        };
    };
    let days = t
        .date_naive()
        .signed_duration_since(now.date_naive())
        .num_days();
    let clock = t.format("%H:%M");
    let text = match days {
        0 => format!("Today {clock}"),
        -1 => format!("Yesterday {clock}"),
        1 => format!("Tomorrow {clock}"),
        _ if t.year() == now.year() => t.format("%-d %b %H:%M").to_string(),
        _ => t.format("%-d %b %Y %H:%M").to_string(),
    };
    HumanTime {
        text,
        full: t.format("%a %-d %b %Y, %H:%M:%S %Z").to_string(),
        iso: t
            .with_timezone(&Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The time of day, with seconds, for "updated at" lines.
pub fn clock(zone: Tz, unix_ms: i64) -> String {
    at(zone, unix_ms)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Hours and minutes only, for the chart's axis.
pub fn hour_minute(zone: Tz, unix_ms: i64) -> String {
    at(zone, unix_ms)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// Unix seconds as a `datetime-local` value in the shop's zone (`2030-12-01T10:00`).
pub fn to_input(zone: Tz, unix: i64) -> String {
    at(zone, unix.saturating_mul(1000))
        .map(|t| t.format(INPUT).to_string())
        .unwrap_or_default()
}

/// Why a typed local time is not a moment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalTimeError {
    #[error("is not a date and time")]
    Malformed,
    /// The clocks jump over it (the start of summer time).
    #[error("does not exist in {0}: the clocks go forward then")]
    Skipped(Tz),
}

/// A `datetime-local` value in the shop's zone as unix seconds (UTC). In the hour the clocks
/// go back, a time happens twice: the first is taken, as the shop's staff would mean it.
pub fn from_input(zone: Tz, text: &str) -> Result<i64, LocalTimeError> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, INPUT)
        .or_else(|_| NaiveDateTime::parse_from_str(text, INPUT_SECONDS))
        .map_err(|_| LocalTimeError::Malformed)?;
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Ok(t.timestamp()),
        LocalResult::None => Err(LocalTimeError::Skipped(zone)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Europe, UTC};

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid")
            .timestamp_millis()
    }

    #[test]
    fn recent_times_are_today_or_yesterday_older_ones_a_date() {
        let now = ms("2026-12-03T15:00:00Z");
        let paris = Europe::Paris;
        assert_eq!(
            human(paris, ms("2026-12-03T09:04:00Z"), now).text,
            "Today 10:04"
        );
        assert_eq!(
            human(paris, ms("2026-12-02T17:30:00Z"), now).text,
            "Yesterday 18:30"
        );
        assert_eq!(
            human(paris, ms("2026-12-04T08:00:00Z"), now).text,
            "Tomorrow 09:00"
        );
        assert_eq!(
            human(paris, ms("2026-11-28T08:00:00Z"), now).text,
            "28 Nov 09:00"
        );
        assert_eq!(
            human(paris, ms("2025-11-28T08:00:00Z"), now).text,
            "28 Nov 2025 09:00"
        );
        // Afternoons on the same 24-hour clock as mornings, never "1:52 PM".
        let t = human(UTC, ms("2026-12-03T13:52:07Z"), now);
        assert_eq!(t.text, "Today 13:52");
        assert_eq!(t.full, "Thu 3 Dec 2026, 13:52:07 UTC");
        assert_eq!(t.iso, "2026-12-03T13:52:07Z");
    }

    #[test]
    fn today_is_the_shops_today_not_utcs() {
        // 23:30 UTC on the 2nd is already the 3rd in Paris.
        let now = ms("2026-12-03T10:00:00Z");
        assert_eq!(
            human(Europe::Paris, ms("2026-12-02T23:30:00Z"), now).text,
            "Today 00:30"
        );
        assert_eq!(
            human(UTC, ms("2026-12-02T23:30:00Z"), now).text,
            "Yesterday 23:30"
        );
    }

    #[test]
    fn a_typed_local_time_is_stored_as_the_right_instant_and_shown_back() {
        let ny = America::New_York;
        let unix = from_input(ny, "2030-07-01T10:00").expect("valid");
        assert_eq!(unix, ms("2030-07-01T14:00:00Z") / 1000, "EDT is UTC-4");
        assert_eq!(to_input(ny, unix), "2030-07-01T10:00");
        let winter = from_input(ny, "2030-12-01T10:00:30").expect("seconds are taken");
        assert_eq!(winter, ms("2030-12-01T15:00:30Z") / 1000, "EST is UTC-5");
        assert_eq!(
            from_input(Europe::Paris, "2030-03-31T02:30"),
            Err(LocalTimeError::Skipped(Europe::Paris)),
            "the clocks jump from 02:00 to 03:00"
        );
        assert_eq!(
            from_input(Europe::Paris, "2030-10-27T02:30").expect("happens twice"),
            ms("2030-10-27T00:30:00Z") / 1000,
            "the first of the two"
        );
        for bad in ["", "tomorrow", "2030-13-01T10:00", "2030-12-01 10:00:00Z"] {
            assert_eq!(
                from_input(UTC, bad),
                Err(LocalTimeError::Malformed),
                "{bad}"
            );
        }
    }
}
