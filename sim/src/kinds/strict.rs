//! Unknown-field detection for `fieldValidation=Strict`: the request body is
//! decoded into its k8s-openapi type and encoded again; any path present in
//! the input but missing from the round trip is a field the type does not have.

/// `Err("strict decoding error: unknown field \"spec.foo\", ...")` if `input` has
/// fields that `roundtrip` lost. Nulls and empty objects/arrays are not reported
/// (the typed encoding omits them legitimately).
pub fn report(
    input: &serde_json::Value,
    roundtrip: &serde_json::Value,
    prefix: &str,
) -> Result<(), String> {
    let mut unknown = Vec::new();
    walk(input, roundtrip, prefix, &mut unknown);
    if unknown.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    Err(format!("strict decoding error: {}", list.join(", ")))
}

fn walk(input: &serde_json::Value, out: &serde_json::Value, path: &str, unknown: &mut Vec<String>) {
    use serde_json::Value;
    match (input, out) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match o.get(k) {
                    Some(ov) => walk(v, ov, &p, unknown),
                    None if trivially_empty(v) => {}
                    None => unknown.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o.iter()).enumerate() {
                walk(iv, ov, &format!("{path}[{n}]"), unknown);
            }
        }
        _ => {}
    }
}

fn trivially_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn reports_paths_lost_in_round_trip() {
        let input = json!({"spec": {"replicas": 1, "bogus": 2, "template": {"x": null}}, "list": [{"a": 1, "b": 2}]});
        let out = json!({"spec": {"replicas": 1, "template": {}}, "list": [{"a": 1}]});
        let err = super::report(&input, &out, "").unwrap_err();
        assert_eq!(
            err,
            "strict decoding error: unknown field \"list[0].b\", unknown field \"spec.bogus\""
        );
    }
}
