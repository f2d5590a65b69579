//! Go's `time.ParseDuration` and `Duration.String()`; parsing is shared by validation (cron `@every`), the CronJob controller and
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

/// Go's `time.Duration.String()`: `"1h0m0s"`, `"1.5s"`, `"300ms"`, `"0s"`.
pub fn format_go_duration(nanos: i64) -> String {
    let neg = nanos < 0;
    let mut u = nanos.unsigned_abs();
    // Built back to front, as Go does.
    let mut out: Vec<u8> = Vec::with_capacity(32);
    fn frac(out: &mut Vec<u8>, mut v: u64, prec: usize) -> u64 {
        let mut print = false;
        for _ in 0..prec {
            let digit = (v % 10) as u8;
            print = print || digit != 0;
            if print {
                out.push(b'0' + digit);
            }
            v /= 10;
        }
        if print {
            out.push(b'.');
        }
        v
    }
    fn int(out: &mut Vec<u8>, mut v: u64) {
        if v == 0 {
            out.push(b'0');
        }
        while v > 0 {
            out.push(b'0' + (v % 10) as u8);
            v /= 10;
        }
    }
    out.push(b's');
    if u < 1_000_000_000 {
        let prec = match u {
            0 => return "0s".into(),
            1..=999 => {
                out.push(b'n');
                0
            }
            1_000..=999_999 => {
                // 'µ' (U+00B5) is C2 B5; pushed reversed.
                out.extend_from_slice(&[0xb5, 0xc2]);
                3
            }
            _ => {
                out.push(b'm');
                6
            }
        };
        u = frac(&mut out, u, prec);
        int(&mut out, u);
    } else {
        u = frac(&mut out, u, 9);
        int(&mut out, u % 60);
        u /= 60;
        if u > 0 {
            out.push(b'm');
            int(&mut out, u % 60);
            u /= 60;
            if u > 0 {
                out.push(b'h');
                int(&mut out, u);
            }
        }
    }
    if neg {
        out.push(b'-');
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_go() {
        for (nanos, want) in [
            (0, "0s"),
            (999, "999ns"),
            (1_500, "1.5\u{b5}s"),
            (54_855_359, "54.855359ms"),
            (1_000_000_000, "1s"),
            (1_234_567_891, "1.234567891s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (-2_500_000_000, "-2.5s"),
        ] {
            assert_eq!(format_go_duration(nanos), want, "{nanos}");
        }
    }

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
