//! Kubernetes resource quantities (`500m`, `1Gi`, `1e3`) as apimachinery's `resource.Quantity`:
//! parsing with the real grammar, the canonical form the API server writes back (`1000m` is
//! stored as `1`, `2048Mi` as `2Gi`), addition that keeps the first operand's format (a zero
//! takes the other's), and comparison. Values are kept exactly in nano-units (an `i128`),
//! which covers every quantity up to `Ei` without rounding; finer fractions round up to 1n
//! as Go's do.

use std::cmp::Ordering;
use std::fmt;

/// How a quantity is written: decimal suffixes (`k`, `M`, `m`), binary ones (`Ki`, `Mi`),
/// or an exponent (`1e3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

impl Format {
    fn go_name(self) -> &'static str {
        match self {
            Format::DecimalSI => "DecimalSI",
            Format::BinarySI => "BinarySI",
            Format::DecimalExponent => "DecimalExponent",
        }
    }
}

/// A quantity: its exact value in nano-units and the format it prints in.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    pub format: Format,
}

const NANO: i128 = 1_000_000_000;

/// What `ParseQuantity` splits a string into.
struct Parts<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    /// Base-10 or base-2 exponent of the suffix.
    base: u32,
    exponent: i32,
    format: Format,
}

fn split(s: &str) -> Option<Parts<'_>> {
    let (positive, rest) = match s.as_bytes().first()? {
        b'+' => (true, &s[1..]),
        b'-' => (false, &s[1..]),
        _ => (true, s),
    };
    let int_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let num = &rest[..int_end];
    let mut after = &rest[int_end..];
    let mut denom = "";
    if let Some(d) = after.strip_prefix('.') {
        let end = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
        denom = &d[..end];
        after = &d[end..];
    }
    if num.is_empty() && denom.is_empty() {
        return None;
    }
    let (base, exponent, format) = match after {
        "" => (10, 0, Format::DecimalSI),
        "n" => (10, -9, Format::DecimalSI),
        "u" => (10, -6, Format::DecimalSI),
        "m" => (10, -3, Format::DecimalSI),
        "k" => (10, 3, Format::DecimalSI),
        "M" => (10, 6, Format::DecimalSI),
        "G" => (10, 9, Format::DecimalSI),
        "T" => (10, 12, Format::DecimalSI),
        "P" => (10, 15, Format::DecimalSI),
        "E" => (10, 18, Format::DecimalSI),
        "Ki" => (2, 10, Format::BinarySI),
        "Mi" => (2, 20, Format::BinarySI),
        "Gi" => (2, 30, Format::BinarySI),
        "Ti" => (2, 40, Format::BinarySI),
        "Pi" => (2, 50, Format::BinarySI),
        "Ei" => (2, 60, Format::BinarySI),
        e if e.len() > 1 && (e.starts_with('e') || e.starts_with('E')) => {
            let n: i32 = e[1..].parse().ok()?;
            (10, n, Format::DecimalExponent)
        }
        _ => return None,
    };
    Some(Parts {
        positive,
        num,
        denom,
        base,
        exponent,
        format,
    })
}

fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

impl Quantity {
    /// Parses `s` as `resource.ParseQuantity` does; `None` where it fails.
    pub fn parse(s: &str) -> Option<Quantity> {
        let p = split(s.trim())?;
        // The digits as an integer of nano-units, before the suffix.
        let digits = format!("{}{}", p.num, p.denom);
        let digits = digits.trim_start_matches('0');
        if digits.len() > 36 {
            return None;
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        // value = mantissa * 10^-len(denom) * base^exponent, in nanos (rounded up).
        let mut num = mantissa.checked_mul(NANO)?;
        let mut den: i128 = pow10(u32::try_from(p.denom.len()).ok().filter(|n| *n <= 30)?);
        if p.base == 2 {
            num = num.checked_mul(1i128 << p.exponent)?;
        } else if p.exponent >= 0 {
            num = num.checked_mul(pow10(u32::try_from(p.exponent).ok().filter(|e| *e <= 30)?))?;
        } else {
            den = den.checked_mul(pow10(u32::try_from(-p.exponent).ok().filter(|e| *e <= 30)?))?;
        }
        let mut nanos = num / den + i128::from(num % den != 0);
        if !p.positive {
            nanos = -nanos;
        }
        Some(Quantity {
            nanos,
            format: p.format,
        })
    }

    /// An integer number of base units (`pods=1`), written DecimalSI.
    pub fn from_int(n: i64) -> Quantity {
        Quantity {
            nanos: i128::from(n) * NANO,
            format: Format::DecimalSI,
        }
    }

    pub fn zero() -> Quantity {
        Quantity::from_int(0)
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// Whether the value is a whole number (of cores, bytes, objects).
    pub fn is_integer(&self) -> bool {
        self.nanos % NANO == 0
    }

    /// The value as a float (for ratios).
    pub fn as_f64(&self) -> f64 {
        self.nanos as f64 / NANO as f64
    }

    /// `self + other` in `self`'s format (a zero takes `other`'s), as `Quantity.Add`.
    pub fn add(&self, other: &Quantity) -> Quantity {
        let format = if self.is_zero() {
            other.format
        } else {
            self.format
        };
        Quantity {
            nanos: self.nanos + other.nanos,
            format,
        }
    }

    /// `self - other` in `self`'s format.
    pub fn sub(&self, other: &Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos - other.nanos,
            format: self.format,
        }
    }

    /// Go's `%#v` of a freshly decoded `resource.Quantity` written as `s`, which
    /// kube-apiserver prints in some validation messages.
    pub fn go_debug(s: &str) -> String {
        let Some(p) = split(s.trim()) else {
            return format!("{s:?}");
        };
        let Some(q) = Quantity::parse(s) else {
            return format!("{s:?}");
        };
        let shifted = format!("{}{}", p.num, p.denom);
        let len = (p.num.len() + p.denom.len()) as i32;
        let (mut scale, precision, mult): (i32, i32, i128) = match p.format {
            Format::BinarySI if p.exponent >= 0 && p.denom.is_empty() => (
                0,
                15 - p.num.len() as i32 - (p.exponent as f32 * 3.0 / 10.0) as i32 - 1,
                1i128 << p.exponent,
            ),
            Format::BinarySI => (0, -1, 1),
            _ => (p.exponent, 18 - len, 1),
        };
        scale -= p.denom.len() as i32;
        let fast = (precision >= 0 && scale >= -9)
            .then(|| shifted.parse::<i64>().ok())
            .flatten()
            .and_then(|v| {
                let r = i128::from(v) * mult;
                i64::try_from(r).ok().map(|r| (v, r))
            });
        match fast {
            Some((value, result)) => {
                let result = if p.positive { result } else { -result };
                let canonical = match p.format {
                    Format::BinarySI => p.exponent % 10 == 0 && value & 7 != 0,
                    _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
                };
                let cached = if canonical { s } else { "" };
                format!(
                    "resource.Quantity{{i:resource.int64Amount{{value:{result}, scale:{scale}}}, d:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, s:{cached:?}, Format:{:?}}}",
                    q.format.go_name()
                )
            }
            // NB: the slow path (inf.Dec) prints a pointer; quoted as the string instead.
            None => format!("{s:?}"),
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// The canonical form, as `Quantity.String()`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let nano = NANO as u128;
        let mut format = self.format;
        if format == Format::BinarySI && (abs < 1024 * nano || !abs.is_multiple_of(nano)) {
            format = Format::DecimalSI;
        }
        if format == Format::BinarySI {
            let mut units = abs / nano;
            let mut i = 0;
            while i < 6 && units.is_multiple_of(1024) {
                units /= 1024;
                i += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][i];
            return write!(f, "{sign}{units}{suffix}");
        }
        // Smallest integer mantissa with an exponent that is a multiple of 3 (from -9).
        let mut mantissa = abs;
        let mut exp = -9;
        while exp < 18 && mantissa.is_multiple_of(1000) {
            mantissa /= 1000;
            exp += 3;
        }
        if format == Format::DecimalExponent {
            return if exp == 0 {
                write!(f, "{sign}{mantissa}")
            } else {
                write!(f, "{sign}{mantissa}e{exp}")
            };
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        write!(f, "{sign}{mantissa}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Quantity::parse(s).expect(s).to_string()
    }

    #[test]
    fn canonical_forms() {
        for (input, want) in [
            ("1000m", "1"),
            ("4000m", "4"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("2048Mi", "2Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("512", "512"),
            ("1024", "1024"),
            ("12000", "12k"),
            ("1500000", "1500k"),
            ("100M", "100M"),
            ("1e3", "1e3"),
            ("1E3", "1e3"),
            ("1.5e3", "1500"),
            ("0", "0"),
            ("0Mi", "0"),
            ("-1", "-1"),
            ("-500m", "-500m"),
            ("1n", "1n"),
            ("0.1n", "1n"),
            ("1Ki", "1Ki"),
            ("1E", "1E"),
            ("+2", "2"),
            ("1.", "1"),
            (".5", "500m"),
        ] {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn bad_quantities() {
        for s in [
            "", "abc", "1q", "1x", "1.2.3", "-", "Mi", "1 Mi", "1e", "1iM",
        ] {
            assert!(Quantity::parse(s).is_none(), "{s} parsed");
        }
    }

    #[test]
    fn arithmetic_keeps_the_first_format() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(q("500m").add(&q("500m")).to_string(), "1");
        assert_eq!(q("0").add(&q("512Mi")).to_string(), "512Mi");
        // 512Mi + 100M is not a whole number of KiB: written in bytes.
        assert_eq!(q("512Mi").add(&q("100M")).to_string(), "636870912");
        assert_eq!(q("100M").add(&q("512Mi")).to_string(), "636870912");
        assert_eq!(q("1Gi").add(&q("1Gi")).to_string(), "2Gi");
        assert_eq!(q("2").sub(&q("500m")).to_string(), "1500m");
        assert_eq!(q("1").add(&q("1Gi")).to_string(), "1073741825");
        assert!(q("1") < q("1001m"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("2Gi") > q("2G"));
        assert!(q("3").is_integer() && !q("1.5").is_integer());
    }

    #[test]
    fn go_debug_forms() {
        assert_eq!(
            Quantity::go_debug("2"),
            r#"resource.Quantity{i:resource.int64Amount{value:2, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"2", Format:"DecimalSI"}"#
        );
        assert_eq!(
            Quantity::go_debug("1.5"),
            r#"resource.Quantity{i:resource.int64Amount{value:15, scale:-1}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"", Format:"DecimalSI"}"#
        );
        assert_eq!(
            Quantity::go_debug("500m"),
            r#"resource.Quantity{i:resource.int64Amount{value:500, scale:-3}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"500m", Format:"DecimalSI"}"#
        );
        assert_eq!(
            Quantity::go_debug("1Gi"),
            r#"resource.Quantity{i:resource.int64Amount{value:1073741824, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"1Gi", Format:"BinarySI"}"#
        );
    }
}
