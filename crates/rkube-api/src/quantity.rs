//! Resource quantities (`resource.Quantity`): parsing, comparison and the canonical
//! `String()` upstream prints in tables and messages (`1024Mi` → `1Gi`, `must be less than or
//! equal to cpu limit of 500m`). Shared by `validation` and `table`.
//!
//! A quantity keeps the format of its suffix: binary (`Ki`…`Ei`), decimal SI (`n`…`E`, or
//! none) or decimal exponent (`e3`). The canonical form uses the largest suffix of that format
//! that keeps the mantissa an integer (`1024Mi` → `1Gi`, `0.5` → `500m`, `1500` → `1500`);
//! binary quantities below 1024 or with a fraction print as decimal SI. Values are held exactly
//! in nano units (upstream rounds anything finer up to `1n`).

use serde_json::Value;

const NANO: i128 = 1_000_000_000;

/// Upstream's parse error, which it returns when decoding a malformed quantity.
pub const PARSE_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// The suffix family of a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `Ki`, `Mi`, … (powers of 1024).
    BinarySi,
    /// `n`, `u`, `m`, ``, `k`, `M`, … (powers of 1000).
    DecimalSi,
    /// `e3`, `E6`, … .
    DecimalExponent,
}

/// A parsed quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    /// The value in nano units, rounded away from zero.
    pub nanos: i128,
    /// The suffix family it was written with.
    pub format: Format,
}

impl Quantity {
    /// Parses a quantity string; `None` when it is malformed or out of range.
    pub fn parse(s: &str) -> Option<Quantity> {
        let (nanos, format) = parse(s.trim())?;
        Some(Quantity { nanos, format })
    }

    /// A JSON quantity: a string, or a bare number (which upstream also accepts).
    pub fn from_json(v: &Value) -> Option<Quantity> {
        match v {
            Value::String(s) => Quantity::parse(s),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => None,
        }
    }

    /// True when the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Upstream's `String()`.
    pub fn canonical(&self) -> String {
        render(self.nanos, self.format)
    }

    /// The value in milli units, as upstream `MilliValue()` (rounded up).
    pub fn milli_value(&self) -> i128 {
        let div = 1_000_000;
        let q = self.nanos / div;
        if self.nanos % div > 0 {
            q + 1
        } else {
            q
        }
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.nanos.cmp(&other.nanos))
    }
}

fn parse(s: &str) -> Option<(i128, Format)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        negative = bytes[i] == b'-';
        i += 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_part = s.get(int_start..i)?;
    let mut frac_part = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_part = s.get(frac_start..i)?;
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let suffix = s.get(i..)?;
    let (exp10, exp2, format): (i32, u32, Format) = match suffix {
        "" => (0, 0, Format::DecimalSi),
        "n" => (-9, 0, Format::DecimalSi),
        "u" => (-6, 0, Format::DecimalSi),
        "m" => (-3, 0, Format::DecimalSi),
        "k" => (3, 0, Format::DecimalSi),
        "M" => (6, 0, Format::DecimalSi),
        "G" => (9, 0, Format::DecimalSi),
        "T" => (12, 0, Format::DecimalSi),
        "P" => (15, 0, Format::DecimalSi),
        "E" => (18, 0, Format::DecimalSi),
        "Ki" => (0, 10, Format::BinarySi),
        "Mi" => (0, 20, Format::BinarySi),
        "Gi" => (0, 30, Format::BinarySi),
        "Ti" => (0, 40, Format::BinarySi),
        "Pi" => (0, 50, Format::BinarySi),
        "Ei" => (0, 60, Format::BinarySi),
        other if other.starts_with(['e', 'E']) && other.len() > 1 => {
            let e: i32 = other.get(1..)?.parse().ok()?;
            (e, 0, Format::DecimalExponent)
        }
        _ => return None,
    };
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut value = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    let shift = exp10 + 9 - i32::try_from(frac_part.len()).ok()?;
    if shift >= 0 {
        value = value.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?;
    } else {
        let div = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        let rounded_up = value % div != 0;
        value = value / div + i128::from(rounded_up);
    }
    Some((if negative { -value } else { value }, format))
}

fn render(nanos: i128, format: Format) -> String {
    if nanos == 0 {
        return "0".to_string();
    }
    if format == Format::BinarySi && nanos.abs() >= 1024 * NANO && nanos % NANO == 0 {
        let mut amount = nanos / NANO;
        let mut k = 0;
        while amount % 1024 == 0 && k < 6 {
            amount /= 1024;
            k += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
        return format!("{amount}{suffix}");
    }
    let mut amount = nanos;
    let mut exponent: i32 = -9;
    while amount % 10 == 0 {
        amount /= 10;
        exponent += 1;
    }
    let down = exponent.rem_euclid(3);
    amount = amount.saturating_mul(10i128.pow(down.unsigned_abs()));
    exponent -= down;
    if format == Format::DecimalExponent {
        return if exponent == 0 {
            amount.to_string()
        } else {
            format!("{amount}e{exponent}")
        };
    }
    let suffix = match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return format!("{amount}e{exponent}"),
    };
    format!("{amount}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("1", "1"),
            ("500m", "500m"),
            ("0.5", "500m"),
            ("1000m", "1"),
            ("1500", "1500"),
            ("2000", "2k"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("512", "512"),
            ("100Ki", "100Ki"),
            ("1e3", "1e3"),
            ("0", "0"),
            ("-1", "-1"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("123Mi", "123Mi"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Quantity::parse(input).map(|q| q.canonical()).as_deref(),
                Some(want),
                "{input}"
            );
        }
        for bad in ["", "abc", "1K", "1..2", "1Gib"] {
            assert!(Quantity::parse(bad).is_none(), "{bad}");
        }
        let a = Quantity::parse("500m").unwrap();
        let b = Quantity::parse("1").unwrap();
        assert!(a < b);
        assert_eq!(Quantity::parse("1.5").unwrap().milli_value(), 1500);
    }
}
