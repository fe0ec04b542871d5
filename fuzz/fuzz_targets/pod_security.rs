//! `podsecurity::violations` at each level on any JSON: the input is the pod (`metadata` and
//! `spec`) when it has either, else the spec. It must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podsecurity::{violations, Level};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(pod) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (meta, spec) = match (&pod["metadata"], &pod["spec"]) {
        (Value::Null, Value::Null) => (json!({}), pod.clone()),
        (m, s) => (m.clone(), s.clone()),
    };
    for level in [Level::Privileged, Level::Baseline, Level::Restricted] {
        let _ = violations(level, &meta, &spec);
    }
});
