//! Cron schedules as the CronJob controller evaluates them: the standard five fields (minute,
//! hour, day of month, month, day of week) of comma-separated `*`, `?`, `N`, `N-M` and `/step`
//! ranges with month and weekday names, the descriptors `@yearly` … `@hourly` and `@every
//! <duration>`, and an optional `TZ=`/`CRON_TZ=` prefix — the semantics of
//! `github.com/robfig/cron/v3` `ParseStandard` that upstream uses, including its rule that
//! day of month and day of week are OR-ed unless one of them is `*`. Also loads IANA time zones
//! from the system tz database, as Go's `time.LoadLocation` does.

use k8s_openapi::jiff::civil::{Date, DateTime};
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Five cron fields in a time zone.
    Spec(SpecSchedule),
    /// `@every <duration>`: a fixed delay (whole seconds, at least one).
    Every(SignedDuration),
}

/// The five cron fields as bit sets (bit `n` set when value `n` matches).
#[derive(Debug, Clone)]
pub struct SpecSchedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Day of month was `*`/`?` (without a step above 1).
    dom_star: bool,
    /// Day of week was `*`/`?` (without a step above 1).
    dow_star: bool,
    tz: TimeZone,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const MINUTE: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &MONTHS,
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &DAYS,
};

/// How far ahead [`Schedule::next`] looks before deciding a schedule never fires (robfig's
/// five years, e.g. for `0 0 30 2 *`).
const SEARCH_YEARS: i16 = 5;

impl Schedule {
    /// Parses `spec`; fields are evaluated in `default_tz` unless the spec starts with
    /// `TZ=<zone>` or `CRON_TZ=<zone>`. The error is robfig/cron's message.
    pub fn parse(spec: &str, default_tz: &TimeZone) -> Result<Schedule, String> {
        if spec.is_empty() {
            return Err("empty spec string".into());
        }
        let mut spec = spec;
        let mut tz = default_tz.clone();
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let Some(space) = spec.find(' ') else {
                return Err(format!("invalid timezone specification: {spec}"));
            };
            let eq = spec.find('=').unwrap_or(0);
            let name = &spec[eq + 1..space];
            tz = load_time_zone(name).map_err(|e| format!("provided bad location {name}: {e}"))?;
            spec = spec[space..].trim();
        }
        if let Some(desc) = spec.strip_prefix('@') {
            return descriptor(desc, spec, tz);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            ));
        }
        let (minute, _) = field(fields[0], &MINUTE)?;
        let (hour, _) = field(fields[1], &HOUR)?;
        let (dom, dom_star) = field(fields[2], &DOM)?;
        let (month, _) = field(fields[3], &MONTH)?;
        let (dow, dow_star) = field(fields[4], &DOW)?;
        Ok(Schedule::Spec(SpecSchedule {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
            tz,
        }))
    }

    /// The first activation strictly after `t`, or `None` when the fields can never match
    /// (within five years).
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(d) => {
                let base = Timestamp::new(t.as_second(), 0).ok()?;
                base.checked_add(*d).ok()
            }
            Schedule::Spec(s) => s.next(t),
        }
    }
}

fn descriptor(desc: &str, spec: &str, tz: TimeZone) -> Result<Schedule, String> {
    let fields = match desc {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        _ => {
            let Some(d) = desc.strip_prefix("every ") else {
                return Err(format!("unrecognized descriptor: {spec}"));
            };
            let nanos = parse_go_duration(d)
                .map_err(|e| format!("failed to parse duration {spec}: {e}"))?;
            // robfig rounds the delay down to whole seconds, with a floor of one second.
            let secs = (nanos / 1_000_000_000).max(1);
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            return Ok(Schedule::Every(SignedDuration::from_secs(secs)));
        }
    };
    Schedule::parse(fields, &tz)
}

/// One field: the bit set and whether it was a plain `*`/`?`.
fn field(text: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for expr in text.split(',').filter(|e| !e.is_empty()) {
        let (r, s) = range(expr, b)?;
        bits |= r;
        star |= s;
    }
    Ok((bits, star))
}

fn range(expr: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let mut star = false;
    let (start, mut end) = if low_high[0] == "*" || low_high[0] == "?" {
        star = true;
        (b.min, b.max)
    } else {
        let start = int_or_name(low_high[0], b)?;
        let end = match low_high.len() {
            1 => start,
            2 => int_or_name(low_high[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok((bits, star))
}

fn int_or_name(expr: &str, b: &Bounds) -> Result<u32, String> {
    let lower = expr.to_ascii_lowercase();
    if let Some(pos) = b.names.iter().position(|n| *n == lower) {
        // Months are 1-based, weekdays 0-based: the offset is the field's minimum.
        return Ok(pos as u32 + b.min);
    }
    parse_int(expr)
}

fn parse_int(expr: &str) -> Result<u32, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": invalid syntax"
        ));
    }
    if expr.starts_with('-') && digits.bytes().any(|c| c != b'0') {
        return Err(format!("negative number ({expr}) not allowed: {expr}"));
    }
    digits.parse::<u32>().map_err(|_| {
        format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": value out of range"
        )
    })
}

/// Go's `time.ParseDuration`, in nanoseconds; negative durations are rejected.
fn parse_go_duration(orig: &str) -> Result<u128, String> {
    let nanos = rkube_api::duration::parse_go_duration(orig)?;
    u128::try_from(nanos).map_err(|_| format!("time: invalid duration \"{orig}\""))
}

impl SpecSchedule {
    fn has(bits: u64, v: i8) -> bool {
        v >= 0 && bits & (1 << v) != 0
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = Self::has(self.dom, d.day());
        let dow = Self::has(self.dow, d.weekday().to_sunday_zero_offset());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first matching minute strictly after `t`, found on the wall clock of the
    /// schedule's zone. Wall times skipped by a DST change resolve to the later instant.
    fn next(&self, t: Timestamp) -> Option<Timestamp> {
        let local = self.tz.to_datetime(t);
        let minute_start = local.date().at(local.hour(), local.minute(), 0, 0);
        let mut from = minute_start
            .checked_add(SignedDuration::from_mins(1))
            .ok()?;
        let limit = from.year().saturating_add(SEARCH_YEARS);
        while from.year() <= limit {
            let cand = self.next_wall(from, limit)?;
            let at = self.tz.to_ambiguous_timestamp(cand).compatible().ok()?;
            if at > t {
                return Some(at);
            }
            from = cand.checked_add(SignedDuration::from_mins(1)).ok()?;
        }
        None
    }

    /// The first matching wall-clock minute at or after `from`.
    fn next_wall(&self, from: DateTime, limit_year: i16) -> Option<DateTime> {
        let mut date = from.date();
        let (mut hour, mut minute) = (from.hour(), from.minute());
        while date.year() <= limit_year {
            if !Self::has(self.month, date.month()) {
                date = date.last_of_month().tomorrow().ok()?;
                (hour, minute) = (0, 0);
                continue;
            }
            if !self.day_matches(date) {
                date = date.tomorrow().ok()?;
                (hour, minute) = (0, 0);
                continue;
            }
            for h in hour..24 {
                if !Self::has(self.hour, h) {
                    continue;
                }
                let first = if h == hour { minute } else { 0 };
                if let Some(m) = (first..60).find(|m| Self::has(self.minute, *m)) {
                    return Some(date.at(h, m, 0, 0));
                }
            }
            date = date.tomorrow().ok()?;
            (hour, minute) = (0, 0);
        }
        None
    }
}

/// Directories searched for IANA zone files, as Go does (after `$ZONEINFO`).
const ZONEINFO_DIRS: [&str; 3] = [
    "/usr/share/zoneinfo/",
    "/usr/share/lib/zoneinfo/",
    "/usr/lib/locale/TZ/",
];

/// Loads the IANA time zone `name` (`UTC` and the empty name are UTC), as Go's
/// `time.LoadLocation`; the error is Go's `unknown time zone <name>`.
pub fn load_time_zone(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() || name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    let unknown = || format!("unknown time zone {name}");
    let safe = !name.starts_with('/')
        && !name
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'));
    if !safe || name == "Local" {
        return Err(unknown());
    }
    let mut dirs: Vec<String> = Vec::new();
    if let Ok(dir) = std::env::var("ZONEINFO") {
        if !dir.is_empty() {
            dirs.push(format!("{}/", dir.trim_end_matches('/')));
        }
    }
    dirs.extend(ZONEINFO_DIRS.iter().map(|d| d.to_string()));
    for dir in dirs {
        if let Ok(data) = std::fs::read(format!("{dir}{name}")) {
            return TimeZone::tzif(name, &data).map_err(|_| unknown());
        }
    }
    Err(unknown())
}

/// The controller's local zone (`$TZ`, else `/etc/localtime`, else UTC), used for schedules
/// without `spec.timeZone` as upstream does.
pub fn local_time_zone() -> TimeZone {
    match std::env::var("TZ") {
        Ok(tz) => load_time_zone(tz.trim_start_matches(':')).unwrap_or(TimeZone::UTC),
        Err(_) => std::fs::read("/etc/localtime")
            .ok()
            .and_then(|data| TimeZone::tzif("Local", &data).ok())
            .unwrap_or(TimeZone::UTC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next_utc(spec: &str, from: &str) -> Option<String> {
        let s = Schedule::parse(spec, &TimeZone::UTC).unwrap();
        s.next(ts(from)).map(|t| t.to_string())
    }

    #[test]
    fn next_activation_table() {
        let cases = [
            ("* * * * *", "2024-03-01T10:00:00Z", "2024-03-01T10:01:00Z"),
            (
                "* * * * *",
                "2024-03-01T10:00:59.5Z",
                "2024-03-01T10:01:00Z",
            ),
            (
                "*/15 * * * *",
                "2024-03-01T10:07:00Z",
                "2024-03-01T10:15:00Z",
            ),
            (
                "*/15 * * * *",
                "2024-03-01T10:45:00Z",
                "2024-03-01T11:00:00Z",
            ),
            (
                "5/20 * * * *",
                "2024-03-01T10:06:00Z",
                "2024-03-01T10:25:00Z",
            ),
            (
                "1-10/3 * * * *",
                "2024-03-01T10:05:00Z",
                "2024-03-01T10:07:00Z",
            ),
            (
                "15,45 * * * *",
                "2024-03-01T10:20:00Z",
                "2024-03-01T10:45:00Z",
            ),
            ("0 0 * * *", "2024-03-01T10:00:00Z", "2024-03-02T00:00:00Z"),
            ("30 2 * * *", "2024-12-31T23:00:00Z", "2025-01-01T02:30:00Z"),
            // Friday → Monday.
            (
                "0 9 * * mon-fri",
                "2024-03-01T10:00:00Z",
                "2024-03-04T09:00:00Z",
            ),
            (
                "0 9 * * 1-5",
                "2024-03-01T08:00:00Z",
                "2024-03-01T09:00:00Z",
            ),
            (
                "0 0 * * SUN",
                "2024-03-01T00:00:00Z",
                "2024-03-03T00:00:00Z",
            ),
            (
                "0 0 1 JAN,jul *",
                "2024-03-01T00:00:00Z",
                "2024-07-01T00:00:00Z",
            ),
            ("0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            // Day of month and day of week are OR-ed when both are restricted.
            (
                "0 0 15 * mon",
                "2024-03-01T00:00:00Z",
                "2024-03-04T00:00:00Z",
            ),
            (
                "0 0 2 * mon",
                "2024-03-01T00:00:00Z",
                "2024-03-02T00:00:00Z",
            ),
            // … and AND-ed when one is `*`.
            (
                "0 0 * 3 mon",
                "2024-03-01T00:00:00Z",
                "2024-03-04T00:00:00Z",
            ),
            (
                "0 0 */1 * mon",
                "2024-03-01T00:00:00Z",
                "2024-03-04T00:00:00Z",
            ),
            ("0 0 ? * ?", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"),
            ("@hourly", "2024-03-01T10:30:00Z", "2024-03-01T11:00:00Z"),
            ("@daily", "2024-03-01T10:30:00Z", "2024-03-02T00:00:00Z"),
            ("@midnight", "2024-03-01T10:30:00Z", "2024-03-02T00:00:00Z"),
            ("@weekly", "2024-03-01T10:30:00Z", "2024-03-03T00:00:00Z"),
            ("@monthly", "2024-03-01T10:30:00Z", "2024-04-01T00:00:00Z"),
            ("@yearly", "2024-03-01T10:30:00Z", "2025-01-01T00:00:00Z"),
            ("@annually", "2024-03-01T10:30:00Z", "2025-01-01T00:00:00Z"),
            (
                "@every 90s",
                "2024-03-01T10:30:00.25Z",
                "2024-03-01T10:31:30Z",
            ),
            (
                "@every 1h30m",
                "2024-03-01T10:30:00Z",
                "2024-03-01T12:00:00Z",
            ),
        ];
        for (spec, from, want) in cases {
            assert_eq!(
                next_utc(spec, from).as_deref(),
                Some(want),
                "{spec} after {from}"
            );
        }
    }

    #[test]
    fn never_firing_schedule() {
        assert_eq!(next_utc("0 0 30 2 *", "2024-01-01T00:00:00Z"), None);
    }

    #[test]
    fn parse_errors() {
        let bad = [
            ("", "empty spec string"),
            ("bad", "expected exactly 5 fields, found 1: [bad]"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "a * * * *",
                "failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("1/2/3 * * * *", "too many slashes: 1/2/3"),
            ("@sometimes", "unrecognized descriptor: @sometimes"),
            (
                "@every 5x",
                "failed to parse duration @every 5x: time: unknown unit \"x\" in duration \"5x\"",
            ),
            ("TZ=UTC", "invalid timezone specification: TZ=UTC"),
            (
                "TZ=Nowhere/Else * * * * *",
                "provided bad location Nowhere/Else: unknown time zone Nowhere/Else",
            ),
        ];
        for (spec, want) in bad {
            assert_eq!(
                Schedule::parse(spec, &TimeZone::UTC).err().as_deref(),
                Some(want),
                "{spec}"
            );
        }
    }

    #[test]
    fn time_zones() {
        if load_time_zone("America/New_York").is_err() {
            eprintln!("no tz database: skipped");
            return;
        }
        let ny = load_time_zone("America/New_York").unwrap();
        let s = Schedule::parse("0 9 * * *", &ny).unwrap();
        // Winter (EST, UTC-5) and summer (EDT, UTC-4).
        assert_eq!(
            s.next(ts("2024-01-10T12:00:00Z")).unwrap().to_string(),
            "2024-01-10T14:00:00Z"
        );
        assert_eq!(
            s.next(ts("2024-07-10T12:00:00Z")).unwrap().to_string(),
            "2024-07-10T13:00:00Z"
        );
        // 02:30 does not exist on 2024-03-10 in New York: it resolves to 03:30 EDT.
        let gap = Schedule::parse("30 2 * * *", &ny).unwrap();
        assert_eq!(
            gap.next(ts("2024-03-10T05:00:00Z")).unwrap().to_string(),
            "2024-03-10T07:30:00Z"
        );
        // The TZ= prefix overrides the default zone.
        let prefixed =
            Schedule::parse("CRON_TZ=America/New_York 0 9 * * *", &TimeZone::UTC).unwrap();
        assert_eq!(
            prefixed
                .next(ts("2024-01-10T12:00:00Z"))
                .unwrap()
                .to_string(),
            "2024-01-10T14:00:00Z"
        );
        assert!(load_time_zone("../etc/passwd").is_err());
        assert!(load_time_zone("Local").is_err());
        assert_eq!(
            load_time_zone("Mars/Base").err().unwrap(),
            "unknown time zone Mars/Base"
        );
    }
}
