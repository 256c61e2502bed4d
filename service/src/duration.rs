//! Durations as people write them in config files and on the command line: a decimal number
//! and a unit, `ms`, `s`, `m` or `h` (`250ms`, `12s`, `1.5m`, `1h`). Parsed in integer
//! nanoseconds, so `0.1s` is exactly 100 ms.

use std::time::Duration;

/// A duration that [`parse_duration`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration such as 250ms, 12s, 1.5m or 1h")]
pub struct DurationParseError(pub String);

/// Parses a duration: digits, an optional fraction of at most 9 digits, and a unit (`ms`, `s`,
/// `m` or `h`), with optional spaces between number and unit.
///
/// # Errors
/// [`DurationParseError`] for a missing or unknown unit, a malformed number, or a value that
/// does not fit in a [`Duration`].
pub fn parse_duration(text: &str) -> Result<Duration, DurationParseError> {
    let text = text.trim();
    let fail = || DurationParseError(text.to_owned());
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(fail)?;
    let (number, unit) = text.split_at(split);
    let unit_nanos: u128 = match unit.trim() {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(fail()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.len() > 9 || (number.contains('.') && fraction.is_empty()) {
        return Err(fail());
    }
    let whole: u128 = whole.parse().map_err(|_| fail())?;
    // The fraction in billionths: "5" -> 500_000_000.
    let billionths: u128 = if fraction.is_empty() {
        0
    } else {
        let digits: u128 = fraction.parse().map_err(|_| fail())?;
        let scale = 10u128.pow(9 - u32::try_from(fraction.len()).map_err(|_| fail())?);
        digits * scale
    };
    let nanos = whole
        .checked_mul(unit_nanos)
        .and_then(|n| n.checked_add(billionths * unit_nanos / 1_000_000_000))
        .ok_or_else(fail)?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| fail())?;
    let subsec = u32::try_from(nanos % 1_000_000_000).map_err(|_| fail())?;
    Ok(Duration::new(secs, subsec))
}

/// Writes a duration so that [`parse_duration`] reads it back exactly: whole seconds as `12s`,
/// whole milliseconds as `250ms`, anything finer as decimal seconds (`0.000001s`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{}s", d.as_secs())
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        let fraction = format!("{nanos:09}");
        format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
    }
}

/// `#[serde(with = "subnet_service::duration::serde_duration")]` for a [`Duration`] field
/// written as text (`"250ms"`).
pub mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the duration as [`super::format_duration`] does.
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    /// Reads a duration as [`super::parse_duration`] does.
    ///
    /// # Errors
    /// A non-string value or a string that is not a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "subnet_service::duration::serde_opt_duration")]` for an
/// `Option<Duration>` field (absent or `"250ms"`); pair it with `#[serde(default)]`.
pub mod serde_opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the duration as [`super::format_duration`] does, or none.
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional duration as [`super::parse_duration`] does.
    ///
    /// # Errors
    /// A value that is neither absent nor a duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| super::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_fractions_exactly() {
        let cases = [
            ("250ms", Duration::from_millis(250)),
            ("12s", Duration::from_secs(12)),
            (" 2 s ", Duration::from_secs(2)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("1.5s", Duration::from_millis(1500)),
            ("0.1s", Duration::from_millis(100)),
            ("1.5m", Duration::from_secs(90)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("0.5ms", Duration::from_micros(500)),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for text in [
            "",
            "12",
            "s",
            "1.s",
            ".5s",
            "1..5s",
            "1.2.3s",
            "-1s",
            "1d",
            "1 sec",
            "1e3ms",
            "0.0000000001s",
            "99999999999999999999999h",
            "1.5 5s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert_eq!(err.0, text.trim(), "{text}");
            assert!(err.to_string().contains("is not a duration"));
        }
    }

    #[test]
    fn format_reads_back_exactly() {
        for d in [
            Duration::ZERO,
            Duration::from_secs(12),
            Duration::from_millis(250),
            Duration::from_millis(1500),
            Duration::from_micros(1),
            Duration::new(3, 1),
            Duration::new(u64::MAX / 1_000_000_000, 999_999_999),
        ] {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{text}");
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_micros(1)), "0.000001s");
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Settings {
        #[serde(with = "serde_duration")]
        timeout: Duration,
        #[serde(default, with = "serde_opt_duration")]
        block_time: Option<Duration>,
    }

    #[test]
    fn serde_helpers_round_trip_through_toml() {
        let s: Settings = toml::from_str("timeout = \"2s\"").unwrap();
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.block_time, None);
        let s = Settings {
            timeout: Duration::from_millis(250),
            block_time: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            toml::from_str::<Settings>(&toml::to_string(&s).unwrap()).unwrap(),
            s
        );
        let err = toml::from_str::<Settings>("timeout = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("is not a duration"), "{err}");
    }
}
