//! `/openapi/v2` as kubectl 1.27–1.29 fetch it: a protobuf-encoded (gnostic
//! `openapi_v2.Document`) swagger document with paths only. Each PATCH
//! operation carries `x-kubernetes-group-version-kind` and a `fieldValidation`
//! query parameter, which is what kubectl checks before leaving validation to
//! the server. No definitions: kubectl then computes strategic merge patches
//! from its built-in types.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::AppState;

// NB: clients ask with `...spec.v2@v1.0+protobuf`; the server answers `...spec.v2.v1.0+protobuf`
// (Go's mime parser rejects the `@`).
pub const PROTO_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// A protobuf message under construction.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn bytes(mut self, tag: u32, b: &[u8]) -> Self {
        self.varint(u64::from(tag << 3 | 2));
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(self, tag: u32, s: &str) -> Self {
        self.bytes(tag, s.as_bytes())
    }
    fn msg(self, tag: u32, m: Msg) -> Self {
        self.bytes(tag, &m.0)
    }
}

fn query_param(name: &str) -> Msg {
    // ParametersItem.parameter(1) → Parameter.non_body_parameter(2) → NonBodyParameter.query_parameter_sub_schema(3)
    let q = Msg::default().str(2, "query").str(4, name).str(6, "string");
    Msg::default().msg(1, Msg::default().msg(2, Msg::default().msg(3, q)))
}

/// The protobuf document for everything served right now.
pub fn document(app: &AppState) -> Vec<u8> {
    let mut paths = Msg::default();
    for r in app.store.registry().all() {
        let base = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let path = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let gvk_yaml = format!(
            "group: \"{}\"\nkind: {}\nversion: {}\n",
            r.group, r.kind, r.version
        );
        let mut op = Msg::default().str(5, &format!("patch{}", r.kind));
        for p in ["dryRun", "fieldManager", "fieldValidation", "force"] {
            op = op.msg(8, query_param(p));
        }
        // vendor_extension(13) = NamedAny{name, value: Any{yaml(2)}}
        op = op.msg(
            13,
            Msg::default()
                .str(1, "x-kubernetes-group-version-kind")
                .msg(2, Msg::default().str(2, &gvk_yaml)),
        );
        let item = Msg::default().msg(8, op);
        paths = paths.msg(2, Msg::default().str(1, &path).msg(2, item));
    }
    let info = Msg::default().str(1, "Kubernetes").str(2, "v1.33.0");
    Msg::default().str(1, "2.0").msg(2, info).msg(8, paths).0
}

pub fn response(app: &AppState) -> Response {
    ([(CONTENT_TYPE, PROTO_CONTENT_TYPE)], document(app)).into_response()
}
