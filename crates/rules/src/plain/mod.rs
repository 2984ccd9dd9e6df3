//! Plain language (spec sections 6.2, 14 and 15): the summary a person approves, ready-made
//! templates, and a deterministic reading of a typed sentence into a draft.
//!
//! Everything here is pure: no I/O, no bus types, and the clock is passed in. The summary is
//! built only from the fields the daemon enforces, so its words cannot promise more than the
//! rules do. Dates are shown and read in UTC with our own calendar arithmetic (the proleptic
//! Gregorian calendar), so no date library is needed.

pub mod summary;
pub mod templates;
pub mod text;

pub use summary::summarize;
pub use templates::{Param, TEMPLATES, Template, TemplateError, instantiate};
pub use text::{TextDraft, draft_from_text};

use super::time::Timestamp;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// English month names, January first.
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Formats an instant as a person reads it, in UTC: "31 December 2026, 17:00 UTC".
/// Seconds and milliseconds are dropped.
pub fn format_utc(at: Timestamp) -> String {
    let millis = at.as_millis();
    let (year, month, day) = civil_from_days(millis.div_euclid(DAY_MS));
    let minute_of_day = millis.rem_euclid(DAY_MS) / 60_000;
    format!(
        "{day} {} {year}, {:02}:{:02} UTC",
        MONTH_NAMES[(month - 1) as usize],
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// Formats an instant for logs and tables, to the second, in UTC: "2026-12-31T17:00:05Z".
pub fn format_iso_utc(at: Timestamp) -> String {
    let millis = at.as_millis();
    let (year, month, day) = civil_from_days(millis.div_euclid(DAY_MS));
    let second_of_day = millis.rem_euclid(DAY_MS) / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Reads a date written `YYYY-MM-DD` as the start of that day (00:00 UTC). Returns `None` for
/// anything else, including days that do not exist (2027-02-30).
pub fn parse_iso_date(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return None;
    }
    let year: i64 = text[0..4].parse().ok()?;
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..10].parse().ok()?;
    date_to_timestamp(year, month, day)
}

/// The start of a calendar day (00:00 UTC), if the day exists.
fn date_to_timestamp(year: i64, month: u32, day: u32) -> Option<Timestamp> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(Timestamp::from_millis(
        days_from_civil(year, month, day).checked_mul(DAY_MS)?,
    ))
}

/// `at` moved forward by whole calendar months, keeping the time of day; the day of the
/// month is clamped to the target month's length (31 January + 1 month = 28 or 29 February).
fn add_months(at: Timestamp, months: i64) -> Timestamp {
    let millis = at.as_millis();
    let (year, month, day) = civil_from_days(millis.div_euclid(DAY_MS));
    let index = year * 12 + i64::from(month - 1) + months;
    let (new_year, new_month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    let new_day = day.min(days_in_month(new_year, new_month));
    let days = days_from_civil(new_year, new_month, new_day);
    Timestamp::from_millis(
        days.saturating_mul(DAY_MS)
            .saturating_add(millis.rem_euclid(DAY_MS)),
    )
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Year, month (1–12) and day (1–31) of the day `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`: eras of 400 years, years starting in March so the leap day comes last).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to the given civil date (the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_over_many_years() {
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert!(d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(
            format_utc(Timestamp::from_secs(1_798_736_400)),
            "31 December 2026, 17:00 UTC"
        );
        assert_eq!(
            add_months(Timestamp::from_secs(1_801_414_800), 1), // 2027-01-31 17:00, plus a month
            Timestamp::from_secs(1_801_414_800 + 28 * 86_400)
        );
    }
}
