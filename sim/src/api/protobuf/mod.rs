//! Decoding `application/vnd.kubernetes.protobuf` request bodies into JSON.
//!
//! kubectl's generator commands (`create namespace|configmap|secret|deployment
//! |service|job|serviceaccount|role|rolebinding|clusterrole|clusterrolebinding`,
//! `auth can-i`, `run`) go through client-go's
//! typed clients, which always *send* protobuf (they accept JSON back). The
//! body is the 4-byte magic `k8s\0` and a `runtime.Unknown` message
//! (`typeMeta`=1 {apiVersion=1, kind=2}, `raw`=2); `raw` is the object in the
//! kind's protobuf encoding, decoded here with the tables in `schema.rs`.
//! Other kinds answer 415, as a server without protobuf support would.

mod schema;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// How a field's value is encoded and turned into JSON.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    Bytes,
    Int,
    Bool,
    Double,
    /// `meta/v1.Time` {seconds=1, nanos=2} → RFC 3339.
    Time,
    /// `resource.Quantity` {string=1} → string.
    Quantity,
    /// `intstr.IntOrString` {type=1, intVal=2, strVal=3}.
    IntOrString,
    MapStr,
    MapBytes,
    MapQuantity,
    Msg(&'static [Field]),
    /// An embedded Go struct whose fields sit inline in the JSON.
    Inline(&'static [Field]),
}

/// One field: tag, JSON name, kind, repeated.
#[derive(Debug, Clone, Copy)]
pub struct Field(pub u32, pub &'static str, pub Kind, pub bool);

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a protobuf-encoded object into its JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = |m: &str| ApiError::bad_request(format!("unable to decode protobuf body: {m}"));
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("missing the k8s protobuf prefix"))?;
    let mut av = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (tag, val) in Reader(rest) {
        match (tag, val.map_err(&bad)?) {
            (1, Wire::Len(tm)) => {
                for (t, v) in Reader(tm) {
                    match (t, v.map_err(&bad)?) {
                        (1, Wire::Len(s)) => av = String::from_utf8_lossy(s).into_owned(),
                        (2, Wire::Len(s)) => kind = String::from_utf8_lossy(s).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(r)) => raw = r,
            _ => {}
        }
    }
    let fields = schema::schema_for(&av, &kind).ok_or_else(|| {
        ApiError::unsupported_media(format!(
            "the demo cluster does not decode {kind} ({av}) from protobuf; send application/json"
        ))
    })?;
    let mut obj = message(raw, fields).map_err(bad)?;
    obj.insert("apiVersion".into(), json!(av));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed64(u64),
    Fixed32,
}

/// Iterates `(field number, value)` pairs of one message.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or("truncated varint")?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("truncated field");
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = (u32, Result<Wire<'a>, &'static str>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let key = match self.varint() {
            Ok(k) => k,
            Err(e) => {
                self.0 = &[];
                return Some((0, Err(e)));
            }
        };
        let tag = (key >> 3) as u32;
        let val = match key & 7 {
            0 => self.varint().map(Wire::Varint),
            1 => self
                .take(8)
                .map(|b| Wire::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))),
            2 => self
                .varint()
                .and_then(|n| self.take(n as usize))
                .map(Wire::Len),
            5 => self.take(4).map(|_| Wire::Fixed32),
            _ => Err("unsupported wire type"),
        };
        if val.is_err() {
            self.0 = &[];
        }
        Some((tag, val))
    }
}

fn message(buf: &[u8], fields: &'static [Field]) -> Result<Map<String, Value>, &'static str> {
    let mut out = Map::new();
    for (tag, val) in Reader(buf) {
        let val = val?;
        let Some(f) = fields.iter().find(|f| f.0 == tag) else {
            continue;
        };
        let Field(_, name, kind, repeated) = *f;
        match kind {
            Kind::Inline(sub) => {
                if let Wire::Len(b) = val {
                    out.extend(message(b, sub)?);
                }
                continue;
            }
            Kind::MapStr | Kind::MapBytes | Kind::MapQuantity => {
                let Wire::Len(entry) = val else {
                    return Err("map entry is not length-delimited");
                };
                let (mut k, mut v) = (String::new(), Value::String(String::new()));
                for (t, ev) in Reader(entry) {
                    match (t, ev?) {
                        (1, Wire::Len(s)) => k = String::from_utf8_lossy(s).into_owned(),
                        (2, Wire::Len(s)) => {
                            v = match kind {
                                Kind::MapBytes => {
                                    json!(base64::engine::general_purpose::STANDARD.encode(s))
                                }
                                Kind::MapQuantity => scalar(Kind::Quantity, Wire::Len(s))?,
                                _ => json!(String::from_utf8_lossy(s)),
                            }
                        }
                        _ => {}
                    }
                }
                let m = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, v);
                }
                continue;
            }
            _ => {}
        }
        // Packed repeated scalars (proto2 does not pack by default, but accept them).
        let values = match (repeated, &kind, &val) {
            (true, Kind::Int | Kind::Bool, Wire::Len(b)) => {
                let mut r = Reader(b);
                let mut vs = Vec::new();
                while !r.0.is_empty() {
                    vs.push(scalar(kind, Wire::Varint(r.varint()?))?);
                }
                vs
            }
            _ => vec![scalar(kind, val)?],
        };
        if repeated {
            let arr = out.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if let Some(a) = arr.as_array_mut() {
                a.extend(values);
            }
        } else if let Some(v) = values.into_iter().next() {
            // NB: Go writes non-pointer fields even when empty; "" and the zero
            // time mean "unset", as `omitempty` would have it in JSON.
            if !(v.is_null() || v.as_str() == Some("")) {
                out.insert(name.to_string(), v);
            }
        }
    }
    Ok(out)
}

fn scalar(kind: Kind, val: Wire<'_>) -> Result<Value, &'static str> {
    Ok(match (kind, val) {
        (Kind::Str, Wire::Len(s)) => json!(String::from_utf8_lossy(s)),
        (Kind::Bytes, Wire::Len(s)) => json!(base64::engine::general_purpose::STANDARD.encode(s)),
        (Kind::Int, Wire::Varint(v)) => json!(v as i64),
        (Kind::Bool, Wire::Varint(v)) => json!(v != 0),
        (Kind::Double, Wire::Fixed64(v)) => json!(f64::from_bits(v)),
        (Kind::Msg(sub), Wire::Len(b)) => Value::Object(message(b, sub)?),
        (Kind::Time, Wire::Len(b)) => {
            let (mut secs, mut nanos) = (0i64, 0u32);
            for (t, v) in Reader(b) {
                match (t, v?) {
                    (1, Wire::Varint(s)) => secs = s as i64,
                    (2, Wire::Varint(n)) => nanos = n as u32,
                    _ => {}
                }
            }
            match chrono::DateTime::from_timestamp(secs, nanos) {
                Some(t) if secs != 0 || nanos != 0 => {
                    json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                }
                _ => Value::Null,
            }
        }
        (Kind::Quantity, Wire::Len(b)) => {
            let mut s = String::new();
            for (t, v) in Reader(b) {
                if let (1, Wire::Len(x)) = (t, v?) {
                    s = String::from_utf8_lossy(x).into_owned();
                }
            }
            json!(s)
        }
        (Kind::IntOrString, Wire::Len(b)) => {
            let (mut ty, mut i, mut s) = (0u64, 0i64, String::new());
            for (t, v) in Reader(b) {
                match (t, v?) {
                    (1, Wire::Varint(x)) => ty = x,
                    (2, Wire::Varint(x)) => i = x as i32 as i64,
                    (3, Wire::Len(x)) => s = String::from_utf8_lossy(x).into_owned(),
                    _ => {}
                }
            }
            if ty == 1 {
                json!(s)
            } else {
                json!(i)
            }
        }
        _ => return Err("field has an unexpected wire type"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(tag: u32, wire: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((tag << 3) | wire as u32) as u8];
        if wire == 2 {
            out.push(payload.len() as u8);
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_configmap() {
        let entry = [field(1, 2, b"k"), field(2, 2, b"v")].concat();
        let meta = [
            field(1, 2, b"cfg"),
            field(11, 2, &[field(1, 2, b"app"), field(2, 2, b"web")].concat()),
        ]
        .concat();
        let raw = [field(1, 2, &meta), field(2, 2, &entry), field(4, 0, &[1])].concat();
        let type_meta = [field(1, 2, b"v1"), field(2, 2, b"ConfigMap")].concat();
        let body = [
            b"k8s\0".to_vec(),
            field(1, 2, &type_meta),
            field(2, 2, &raw),
        ]
        .concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"app": "web"}},
                   "data": {"k": "v"}, "immutable": true})
        );
    }
}
