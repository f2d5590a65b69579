//! Go's `time.ParseDuration`, shared by validation (cron `@every`), the CronJob controller and
//! the fake kubelet's `fake.rkube.io/run-for` annotation, with Go's error texts.

/// Parses a Go duration (`300ms`, `-1.5h`, `1h30m`) into signed nanoseconds.
pub fn parse_go_duration(orig: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration \"{orig}\"");
    let (negative, mut s) = match orig.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, orig.strip_prefix('+').unwrap_or(orig)),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let end = s
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len());
        let number = &s[..end];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        s = &s[end..];
        let unit_end = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_end];
        let scale: f64 = match unit {
            "" => return Err(format!("time: missing unit in duration \"{orig}\"")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit \"{unit}\" in duration \"{orig}\""
                ))
            }
        };
        total += value * scale;
        s = &s[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let nanos = total as i128;
    Ok(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (text, want) in [
            ("2s", Ok(2_000_000_000)),
            ("300ms", Ok(300_000_000)),
            ("1m30s", Ok(90_000_000_000)),
            ("1.5s", Ok(1_500_000_000)),
            ("-1h", Ok(-3_600_000_000_000)),
            ("+5us", Ok(5_000)),
            ("0", Ok(0)),
            ("", Err("time: invalid duration \"\"".to_string())),
            ("5", Err("time: missing unit in duration \"5\"".to_string())),
            (
                "5x",
                Err("time: unknown unit \"x\" in duration \"5x\"".to_string()),
            ),
            ("s", Err("time: invalid duration \"s\"".to_string())),
        ] {
            assert_eq!(parse_go_duration(text), want, "{text}");
        }
    }
}
