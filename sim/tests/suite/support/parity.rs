//! The same request to the demo cluster and to a real kube-apiserver, and the two answers
//! compared: status code, `reason`, the error's causes and message, and the resulting
//! object with what is volatile removed (uid, resourceVersion, timestamps, generated names).
//! The real API server is right; a difference is the demo cluster's bug.

use axum::http::Request;
use serde_json::Value;
use wharf_testkit::{Parts, RealCluster};

/// A demo cluster and a real one, side by side.
pub struct Pair {
    // NB: held to keep both clusters running while the clients talk to them.
    sim: sim::Sim,
    pub sim_client: kube::Client,
    real: RealCluster,
    pub real_client: kube::Client,
}

/// One answer, ready to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Pair {
    /// A fresh demo cluster and a fresh real API server (etcd + kube-apiserver only).
    pub async fn start() -> Pair {
        Pair::start_with(Parts::API).await
    }

    pub async fn start_with(parts: Parts) -> Pair {
        let (sim, sim_client) = super::spawn().await;
        let real = RealCluster::start(parts).await;
        let real_client = real.client().await;
        Pair {
            sim,
            sim_client,
            real,
            real_client,
        }
    }

    /// Sends `method path` with `body` (as `content_type`) to both; returns (demo, real).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> (Answer, Answer) {
        let bytes = if body.is_null() {
            Vec::new()
        } else if content_type.contains("yaml") {
            serde_yaml::to_string(body).expect("yaml").into_bytes()
        } else {
            serde_json::to_vec(body).expect("json")
        };
        let demo = request(&self.sim_client, method, path, content_type, bytes.clone()).await;
        let real = request(&self.real_client, method, path, content_type, bytes).await;
        (demo, real)
    }

    /// Clients for (the demo cluster, the real one) that authenticate with these bearer
    /// tokens instead of the admin's credentials.
    pub async fn clients_with_tokens(
        &self,
        demo: &str,
        real: &str,
    ) -> (kube::Client, kube::Client) {
        let real_kubeconfig =
            std::fs::read_to_string(self.real.kubeconfig()).expect("read the real kubeconfig");
        (
            super::client_with_token(&self.sim.kubeconfig_yaml(), Some(demo)).await,
            super::client_with_token(&real_kubeconfig, Some(real)).await,
        )
    }

    /// The demo cluster's volumes folder (a static PV's path must be in it to be mounted).
    pub fn demo_volumes_dir(&self) -> std::path::PathBuf {
        self.sim.volumes_dir()
    }

    /// Waits until both serve `path` (a new CRD's resources, say) with a 200.
    pub async fn wait_until_served(&self, path: &str) {
        super::eventually(30, || async {
            let (d, r) = self
                .send("GET", path, "application/json", &Value::Null)
                .await;
            (d.status == 200 && r.status == 200).then_some(())
        })
        .await;
    }

    /// [`Pair::send`], then asserts both answers are the same once normalized; returns the
    /// real one.
    pub async fn same(
        &self,
        what: &str,
        method: &str,
        path: &str,
        ct: &str,
        body: &Value,
    ) -> Answer {
        let (demo, real) = self.send(method, path, ct, body).await;
        let (d, r) = (normalize(&demo), normalize(&real));
        assert_same(what, &d, &r);
        real
    }

    /// Kubeconfig files for (the demo cluster, the real one); the demo's is written to `dir`.
    pub fn kubeconfigs(&self, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let demo = dir.join("demo-kubeconfig");
        std::fs::write(&demo, self.sim.kubeconfig_yaml()).expect("write the demo kubeconfig");
        (demo, self.real.kubeconfig().to_path_buf())
    }

    /// [`Pair::same`] for objects the demo cluster's controllers also write (status,
    /// annotations): only the parts at these JSON pointers are compared (a `Status`
    /// answer is compared whole), and `managedFields` without the controllers' entries.
    /// Returns the real answer.
    pub async fn same_in(
        &self,
        what: &str,
        method: &str,
        path: &str,
        ct: &str,
        body: &Value,
        parts: &[&str],
    ) -> Answer {
        let (demo, real) = self.send(method, path, ct, body).await;
        let pick = |a: &Answer| {
            let mut n = normalize(a);
            if n["body"]["kind"] == "Status" {
                return n;
            }
            // The real cluster runs no controllers: their records are the demo's alone.
            if let Some(mf) = n["body"]["metadata"]["managedFields"].as_array_mut() {
                mf.retain(|e| !CONTROLLERS.contains(&e["manager"].as_str().unwrap_or_default()));
            }
            let picked: serde_json::Map<String, Value> = parts
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        n["body"].pointer(p).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect();
            serde_json::json!({"status": n["status"], "body": picked})
        };
        let (d, r) = (pick(&demo), pick(&real));
        assert_same(what, &d, &r);
        real
    }
}

/// Sends `method path` with `bytes` (as `content_type`) through `client`; the answer.
pub async fn request(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .header("accept", "application/json")
        .body(bytes)
        .expect("request");
    let res = client.send(req.map(Into::into)).await.expect("send");
    let status = res.status().as_u16();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        body: serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into())),
    }
}

/// The managers of the demo cluster's controllers (see `same_in`).
const CONTROLLERS: &[&str] = &["kube-controller-manager", "kube-scheduler", "kubelet"];

fn assert_same(what: &str, demo: &Value, real: &Value) {
    assert!(
        demo == real,
        "{what}: the demo cluster answered differently from kube-apiserver\n--- demo:\n{}\n--- real:\n{}",
        serde_json::to_string_pretty(demo).unwrap(),
        serde_json::to_string_pretty(real).unwrap()
    );
}

/// What is compared: the status code and the body without volatile fields.
pub fn normalize(a: &Answer) -> Value {
    let mut body = a.body.clone();
    scrub(&mut body);
    serde_json::json!({"status": a.status, "body": body})
}

/// Removes what differs between any two servers for the same request.
pub fn scrub(v: &mut Value) {
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "selfLink",
            "deletionTimestamp",
        ] {
            md.remove(k);
        }
        if let Some(Value::Array(mf)) = md.get_mut("managedFields") {
            for entry in mf.iter_mut() {
                if let Some(e) = entry.as_object_mut() {
                    e.remove("time");
                }
            }
            // NB: entries are ordered by their times (in seconds): without them, by name.
            mf.sort_by_key(|e| {
                (
                    e["operation"].to_string(),
                    e["manager"].to_string(),
                    e["apiVersion"].to_string(),
                )
            });
        }
    }
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            scrub(item);
        }
    }
    if let Some(Value::String(m)) = v.get_mut("message") {
        // A precondition's 409 quotes the stored uid or resourceVersion.
        if let Some((head, tail)) = m.split_once(" in record (") {
            let rest = tail.split_once(')').map(|(_, r)| r).unwrap_or_default();
            *m = format!("{head} in record (…){rest}");
        }
    }
    if let Some(details) = v.get_mut("details").and_then(Value::as_object_mut) {
        details.remove("uid");
        // NB: kube-apiserver lists apply conflicts' causes in map order (random).
        if let Some(Value::Array(causes)) = details.get_mut("causes") {
            causes.sort_by_key(|c| (c["field"].to_string(), c["message"].to_string()));
        }
    }
    mask_pointers(v);
}

/// Go pointers (`(0xc010a47590)`) that kube-apiserver prints in some messages differ on every
/// run; they are compared as `(0xc…)`.
fn mask_pointers(v: &mut Value) {
    match v {
        Value::String(s) if s.contains("(0xc") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("(0xc") {
                out.push_str(&rest[..i]);
                out.push_str("(0xc…");
                let tail = &rest[i + 4..];
                rest = tail.trim_start_matches(|c: char| c.is_ascii_hexdigit());
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(a) => a.iter_mut().for_each(mask_pointers),
        Value::Object(m) => m.values_mut().for_each(mask_pointers),
        _ => {}
    }
}
