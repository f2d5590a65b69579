//! Canonical form of resource quantities (`resource.Quantity.String()`), used by the printers
//! of PersistentVolumes, claims, quotas, HPAs and CSI capacities.
//!
//! A quantity keeps the format of its suffix: binary (`Ki`…`Ei`), decimal SI (`n`…`E`, or none)
//! or decimal exponent (`e3`). Its canonical form is the largest suffix of that format that
//! keeps the mantissa an integer: `1024Mi` → `1Gi`, `1.5Gi` → `1536Mi`, `0.5` → `500m`,
//! `2000` → `2k`. Binary quantities below 1024 or with a fraction print as decimal SI.
//! Values are held in nano units (upstream rounds anything finer up to `1n`).

use serde_json::Value;

const NANO: i128 = 1_000_000_000;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Binary,
    DecimalSi,
    DecimalExponent,
}

/// `Quantity.String()` of a JSON quantity (a string such as `"10Gi"`, or a bare number);
/// `"0"` when missing (upstream's zero quantity).
pub(super) fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => canonical(s),
        Some(Value::Number(n)) => canonical(&n.to_string()),
        _ => "0".to_string(),
    }
}

/// `(*Quantity).String()` of an optional pointer field: `<nil>` when missing.
pub(super) fn quantity_ptr(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<nil>".to_string(),
        some => quantity(some),
    }
}

/// The canonical form of a quantity string; the input unchanged when it cannot be parsed or
/// does not fit the arithmetic used here.
pub(super) fn canonical(s: &str) -> String {
    parse(s)
        .and_then(|(nanos, fmt)| render(nanos, fmt))
        .unwrap_or_else(|| s.to_string())
}

/// Parses into (value in nano units, rounded away from zero; format).
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
    let int_part = &s[int_start..i];
    let mut frac_part = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_part = &s[frac_start..i];
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let suffix = &s[i..];
    // (base-10 exponent, base-2 exponent, format)
    let (exp10, exp2, fmt): (i32, u32, Format) = match suffix {
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
        "Ki" => (0, 10, Format::Binary),
        "Mi" => (0, 20, Format::Binary),
        "Gi" => (0, 30, Format::Binary),
        "Ti" => (0, 40, Format::Binary),
        "Pi" => (0, 50, Format::Binary),
        "Ei" => (0, 60, Format::Binary),
        other if other.starts_with(['e', 'E']) => {
            let e: i32 = other[1..].parse().ok()?;
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
    // value = mantissa * 2^exp2 * 10^(exp10 - frac_len); in nanos: * 10^9.
    let mut value = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    let shift = exp10 + 9 - i32::try_from(frac_part.len()).ok()?;
    if shift >= 0 {
        value = value.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?;
    } else {
        let div = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        let rounded_up = value % div != 0;
        value = value / div + i128::from(rounded_up);
    }
    Some((if negative { -value } else { value }, fmt))
}

fn render(nanos: i128, fmt: Format) -> Option<String> {
    if nanos == 0 {
        return Some("0".to_string());
    }
    if fmt == Format::Binary && nanos.abs() >= 1024 * NANO && nanos % NANO == 0 {
        let mut amount = nanos / NANO;
        let mut k = 0;
        while amount % 1024 == 0 {
            amount /= 1024;
            k += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(k)?;
        return Some(format!("{amount}{suffix}"));
    }
    // Decimal: strip factors of ten, then lower the exponent to a multiple of three.
    let mut amount = nanos;
    let mut exponent: i32 = -9;
    while amount % 10 == 0 {
        amount /= 10;
        exponent += 1;
    }
    let down = exponent.rem_euclid(3);
    amount = amount.checked_mul(10i128.pow(u32::try_from(down).ok()?))?;
    exponent -= down;
    if fmt == Format::DecimalExponent {
        if exponent == 0 {
            return Some(amount.to_string());
        }
        return Some(format!("{amount}e{exponent}"));
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
        _ => return None,
    };
    Some(format!("{amount}{suffix}"))
}
