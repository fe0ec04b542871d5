//! Structural defaulting: a field that is missing (or null where the schema does not allow
//! null) takes its `default`; nulls of non-nullable fields without a default are dropped.
//! Defaults apply inside objects that exist, including ones a default just created.

use serde_json::{Map, Value};

use super::{field_schema, nullable};

pub(super) fn apply(v: &mut Value, s: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = s["properties"].as_object() {
                fill(m, props);
            }
            for (k, x) in m.iter_mut() {
                if let Some(fs) = field_schema(s, k) {
                    apply(x, fs);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items").filter(|i| i.is_object()) {
                for x in a {
                    apply(x, items);
                }
            }
        }
        _ => {}
    }
}

fn fill(m: &mut Map<String, Value>, props: &Map<String, Value>) {
    for (k, p) in props {
        let default = p.get("default").filter(|d| !d.is_null());
        let unset = match m.get(k) {
            None => true,
            Some(Value::Null) => !nullable(p),
            Some(_) => false,
        };
        if !unset {
            continue;
        }
        match default {
            Some(d) => {
                m.insert(k.clone(), d.clone());
            }
            None => {
                m.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_missing_and_null_fields_and_nest() {
        let s = json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "d"},
            "b": {"type": "string"},
            "n": {"type": "string", "nullable": true},
            "o": {"type": "object", "default": {}, "properties": {"x": {"type": "integer", "default": 7}}}
        }});
        let mut v = json!({"a": null, "b": null, "n": null});
        apply(&mut v, &s);
        assert_eq!(v, json!({"a": "d", "n": null, "o": {"x": 7}}));
    }
}
