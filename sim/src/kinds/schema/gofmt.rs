//! Values printed the way kube-apiserver's Go code prints them in error messages, so the
//! demo cluster's messages read byte for byte like the real ones.

use serde_json::Value;

/// A `field.Error`'s bad value: strings quoted, numbers and booleans plain, null as
/// `"null"`, maps and lists as Go's `%#v`.
pub(super) fn bad_value(v: &Value) -> String {
    match v {
        Value::Null => "\"null\"".into(),
        Value::String(s) => quote(s),
        Value::Number(_) | Value::Bool(_) => plain(v),
        _ => sharp_v(v),
    }
}

/// Go's `%q` (close enough: JSON string escaping).
pub(super) fn quote(s: &str) -> String {
    Value::String(s.into()).to_string()
}

/// Go's `%v` of a JSON number or boolean (float64 whole numbers print without a point).
pub(super) fn plain(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if v.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
        _ => v.to_string(),
    }
}

/// Go's `%#v` of a decoded JSON value (`map[string]interface {}{"a":1}`).
pub(super) fn sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Object(m) => {
            let fields: Vec<String> = m
                .iter()
                .map(|(k, x)| format!("{}:{}", quote(k), sharp_v(x)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", fields.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(sharp_v).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        Value::String(s) => quote(s),
        _ => plain(v),
    }
}
