//! ISO 8601 UTC timestamps (`2022-08-16T10:20:30.123456Z`), the text form of the reference's
//! `UTCTime`: fractional seconds are written with as few digits as they need and omitted when
//! zero.

use super::binary::DecodeError;
use super::string::{Scanner, StrDecode, StrEncode};

/// A UTC time with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub seconds: i64,
    /// Nanoseconds past `seconds` (below 1_000_000_000).
    pub nanoseconds: u32,
}

const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day number since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    // Both values are small and non-negative by construction.
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl StrEncode for UtcTime {
    fn str_encode(&self, out: &mut Vec<u8>) {
        let days = self.seconds.div_euclid(SECONDS_PER_DAY);
        let secs_of_day = self.seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
        let mut text = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
        if self.nanoseconds > 0 {
            let fraction = format!("{:09}", self.nanoseconds);
            text.push('.');
            text.push_str(fraction.trim_end_matches('0'));
        }
        text.push('Z');
        out.extend_from_slice(text.as_bytes());
    }
}

fn fixed_digits(s: &mut Scanner<'_>, n: usize) -> Result<u32, DecodeError> {
    let digits = s.take_while(|b| b.is_ascii_digit());
    if digits.len() != n {
        return Err(DecodeError::Invalid("ISO 8601 time"));
    }
    Ok(digits
        .iter()
        .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0')))
}

impl StrDecode for UtcTime {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let bad = DecodeError::Invalid("ISO 8601 time");
        let year = i64::from(fixed_digits(s, 4)?);
        s.expect(b'-', "ISO 8601 time")?;
        let month = fixed_digits(s, 2)?;
        s.expect(b'-', "ISO 8601 time")?;
        let day = fixed_digits(s, 2)?;
        s.expect(b'T', "ISO 8601 time")?;
        let hour = fixed_digits(s, 2)?;
        s.expect(b':', "ISO 8601 time")?;
        let minute = fixed_digits(s, 2)?;
        s.expect(b':', "ISO 8601 time")?;
        let second = fixed_digits(s, 2)?;
        let mut nanoseconds = 0u32;
        if s.eat(b'.') {
            let digits = s.take_while1(|b| b.is_ascii_digit(), "ISO 8601 fraction")?;
            // Digits past nanoseconds (the reference keeps picoseconds) are dropped.
            for i in 0..9 {
                nanoseconds = nanoseconds * 10 + digits.get(i).map_or(0, |d| u32::from(d - b'0'));
            }
        }
        s.expect(b'Z', "ISO 8601 time")?;
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(bad);
        }
        let seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY
            + i64::from(hour * 3600 + minute * 60 + second);
        Ok(UtcTime {
            seconds,
            nanoseconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_the_reference() {
        let t = UtcTime::str_decode(b"2022-08-16T10:20:30.123456Z").unwrap();
        assert_eq!(t.seconds, 1_660_645_230);
        assert_eq!(t.nanoseconds, 123_456_000);
        assert_eq!(t.to_str_bytes(), b"2022-08-16T10:20:30.123456Z");
        let whole = UtcTime {
            seconds: 0,
            nanoseconds: 0,
        };
        assert_eq!(whole.to_str_bytes(), b"1970-01-01T00:00:00Z");
        assert!(UtcTime::str_decode(b"2022-02-30T00:00:00Z").is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(seconds in -62_135_596_800i64..253_402_300_799, nanoseconds in 0u32..1_000_000_000) {
            let t = UtcTime { seconds, nanoseconds };
            prop_assert_eq!(UtcTime::str_decode(&t.to_str_bytes()).unwrap(), t);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[0-9T:Z.-]{0,40}") {
            let _ = UtcTime::str_decode(text.as_bytes());
        }
    }
}
