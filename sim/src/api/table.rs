//! Server-side printing: `meta.k8s.io/v1` Table responses for clients that ask
//! with `Accept: application/json;as=Table;...` (kubectl get). Columns follow
//! the real API server's for the kinds a person looks at (pods, deployments,
//! replicasets, statefulsets, services, nodes, namespaces, jobs, events, RBAC roles and bindings), a CRD's
//! `additionalPrinterColumns` for custom resources, and NAME/AGE otherwise.

use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::resources::ResourceInfo;

/// The client asked for a Table (and did not ask for something else first).
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| first.contains("as=Table"))
}

/// What each row carries besides cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn from_param(v: Option<&str>) -> Include {
        match v {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

struct Col {
    name: &'static str,
    ty: &'static str,
    priority: u8,
    cell: fn(&Value) -> Value,
}

/// Access modes as kubectl abbreviates them (`RWO,ROX`).
fn access_modes(v: &Value) -> Value {
    let short = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| match m.as_str().unwrap_or_default() {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>();
    json!(short.join(","))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}
fn name(o: &Value) -> Value {
    o["metadata"]["name"].clone()
}
fn age(o: &Value) -> Value {
    json!(since(s(&o["metadata"]["creationTimestamp"])))
}
fn or_none(v: &Value) -> Value {
    match v.as_str() {
        Some(x) if !x.is_empty() => json!(x),
        _ => json!("<none>"),
    }
}
fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}
fn join(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "<none>".into()
    } else {
        v.join(",")
    }
}
/// A binding's subjects of one kind, as 1.20's printer lists them (`namespace/name` for
/// service accounts).
fn subjects(o: &Value, kind: &str) -> Value {
    let names: Vec<String> = o["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["kind"] == kind)
        .map(|x| {
            if kind == "ServiceAccount" {
                format!("{}/{}", s(&x["namespace"]), s(&x["name"]))
            } else {
                s(&x["name"]).to_string()
            }
        })
        .collect();
    json!(names.join(", "))
}
fn containers(o: &Value) -> Value {
    let cs = o["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    json!(join(cs.iter().map(|c| s(&c["name"]).to_string())))
}
fn images(o: &Value) -> Value {
    let cs = o["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    json!(join(cs.iter().map(|c| s(&c["image"]).to_string())))
}
fn selector(o: &Value) -> Value {
    let m = o["spec"]["selector"]["matchLabels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    json!(join(m.iter().map(|(k, v)| format!("{k}={}", s(v)))))
}

/// Kubernetes' short human durations ("5s", "3m2s", "4h", "2d3h", "12d").
pub fn since(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        s if s < 120 => format!("{s}s"),
        _ if m < 10 => format!("{m}m{}s", secs % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 => format!("{d}d{}h", h % 24),
        _ => format!("{d}d"),
    }
}

fn pod_status(o: &Value) -> Value {
    if o["metadata"]["deletionTimestamp"].is_string() {
        return json!("Terminating");
    }
    let mut reason = o["status"]["reason"]
        .as_str()
        .unwrap_or(s(&o["status"]["phase"]))
        .to_string();
    for c in o["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(r) = c["state"]["waiting"]["reason"].as_str() {
            reason = r.to_string();
        } else if let Some(r) = c["state"]["terminated"]["reason"].as_str() {
            reason = r.to_string();
        }
    }
    json!(if reason.is_empty() {
        "Pending".to_string()
    } else {
        reason
    })
}

fn pod_ready(o: &Value) -> Value {
    let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = o["status"]["containerStatuses"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|c| c["ready"] == true).count());
    json!(format!("{ready}/{total}"))
}

fn pod_restarts(o: &Value) -> Value {
    json!(o["status"]["containerStatuses"].as_array().map_or(0, |a| a
        .iter()
        .map(|c| int(&c["restartCount"]))
        .sum::<i64>()))
}

fn service_ports(o: &Value) -> Value {
    let ports = o["spec"]["ports"].as_array().cloned().unwrap_or_default();
    json!(join(ports.iter().map(|p| match p["nodePort"].as_i64() {
        Some(np) => format!("{}:{np}/{}", int(&p["port"]), s(&p["protocol"])),
        None => format!("{}/{}", int(&p["port"]), s(&p["protocol"])),
    })))
}

fn node_status(o: &Value) -> Value {
    let ready = o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    let mut st = match ready.map(|c| s(&c["status"])) {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if o["spec"]["unschedulable"] == true {
        st.push_str(",SchedulingDisabled");
    }
    json!(st)
}

fn job_status(o: &Value) -> Value {
    let conds = o["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |t: &str| {
        conds
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    json!(if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if o["spec"]["suspend"] == true {
        "Suspended"
    } else {
        "Running"
    })
}

macro_rules! col {
    ($n:expr, $t:expr, $p:expr, $f:expr) => {
        Col {
            name: $n,
            ty: $t,
            priority: $p,
            cell: $f,
        }
    };
}

fn builtin_columns(info: &ResourceInfo) -> Vec<Col> {
    let name_col = col!("Name", "string", 0, name);
    let age_col = col!("Age", "string", 0, age);
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Pod") => vec![
            name_col,
            col!("Ready", "string", 0, pod_ready),
            col!("Status", "string", 0, pod_status),
            col!("Restarts", "string", 0, pod_restarts),
            age_col,
            col!("IP", "string", 1, |o| or_none(&o["status"]["podIP"])),
            col!("Node", "string", 1, |o| or_none(&o["spec"]["nodeName"])),
            col!("Nominated Node", "string", 1, |o| or_none(
                &o["status"]["nominatedNodeName"]
            )),
            col!("Readiness Gates", "string", 1, |_| json!("<none>")),
        ],
        ("apps", "Deployment") => vec![
            name_col,
            col!("Ready", "string", 0, |o| json!(format!(
                "{}/{}",
                int(&o["status"]["readyReplicas"]),
                int(&o["spec"]["replicas"])
            ))),
            col!("Up-to-date", "integer", 0, |o| json!(int(
                &o["status"]["updatedReplicas"]
            ))),
            col!("Available", "integer", 0, |o| json!(int(
                &o["status"]["availableReplicas"]
            ))),
            age_col,
            col!("Containers", "string", 1, containers),
            col!("Images", "string", 1, images),
            col!("Selector", "string", 1, selector),
        ],
        ("apps", "ReplicaSet") => vec![
            name_col,
            col!("Desired", "integer", 0, |o| json!(int(
                &o["spec"]["replicas"]
            ))),
            col!("Current", "integer", 0, |o| json!(int(
                &o["status"]["replicas"]
            ))),
            col!("Ready", "integer", 0, |o| json!(int(
                &o["status"]["readyReplicas"]
            ))),
            age_col,
            col!("Containers", "string", 1, containers),
            col!("Images", "string", 1, images),
            col!("Selector", "string", 1, selector),
        ],
        ("apps", "StatefulSet") => vec![
            name_col,
            col!("Ready", "string", 0, |o| json!(format!(
                "{}/{}",
                int(&o["status"]["readyReplicas"]),
                int(&o["spec"]["replicas"])
            ))),
            age_col,
            col!("Containers", "string", 1, containers),
            col!("Images", "string", 1, images),
        ],
        ("", "Service") => vec![
            name_col,
            col!("Type", "string", 0, |o| o["spec"]["type"].clone()),
            col!("Cluster-IP", "string", 0, |o| or_none(
                &o["spec"]["clusterIP"]
            )),
            col!("External-IP", "string", 0, |o| {
                let ips = o["spec"]["externalIPs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                json!(join(ips.iter().map(|i| s(i).to_string())))
            }),
            col!("Port(s)", "string", 0, service_ports),
            age_col,
            col!("Selector", "string", 1, |o| {
                let m = o["spec"]["selector"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                json!(join(m.iter().map(|(k, v)| format!("{k}={}", s(v)))))
            }),
        ],
        ("", "Node") => vec![
            name_col,
            col!("Status", "string", 0, node_status),
            col!("Roles", "string", 0, |_| json!("<none>")),
            age_col,
            col!("Version", "string", 0, |o| o["status"]["nodeInfo"]
                ["kubeletVersion"]
                .clone()),
            col!("Internal-IP", "string", 1, |o| {
                let a = o["status"]["addresses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                json!(a
                    .iter()
                    .find(|x| x["type"] == "InternalIP")
                    .map_or("<none>", |x| s(&x["address"])))
            }),
        ],
        ("storage.k8s.io", "StorageClass") => vec![
            name_col,
            col!("Provisioner", "string", 0, |o| o["provisioner"].clone()),
            col!("ReclaimPolicy", "string", 0, |o| o["reclaimPolicy"].clone()),
            col!("VolumeBindingMode", "string", 0, |o| o["volumeBindingMode"]
                .clone()),
            col!("AllowVolumeExpansion", "string", 0, |o| json!(o
                ["allowVolumeExpansion"]
                .as_bool()
                .unwrap_or(false)
                .to_string())),
            age_col,
        ],
        ("", "PersistentVolume") => vec![
            name_col,
            col!("Capacity", "string", 0, |o| o["spec"]["capacity"]
                ["storage"]
                .clone()),
            col!("Access Modes", "string", 0, |o| access_modes(
                &o["spec"]["accessModes"]
            )),
            col!("Reclaim Policy", "string", 0, |o| o["spec"]
                ["persistentVolumeReclaimPolicy"]
                .clone()),
            col!("Status", "string", 0, |o| o["status"]["phase"].clone()),
            col!("Claim", "string", 0, |o| {
                let c = &o["spec"]["claimRef"];
                json!(if c.is_object() {
                    format!("{}/{}", s(&c["namespace"]), s(&c["name"]))
                } else {
                    String::new()
                })
            }),
            col!("StorageClass", "string", 0, |o| o["spec"]
                ["storageClassName"]
                .clone()),
            col!("Reason", "string", 0, |o| json!(s(&o["status"]["reason"]))),
            age_col,
        ],
        ("", "PersistentVolumeClaim") => vec![
            name_col,
            col!("Status", "string", 0, |o| o["status"]["phase"].clone()),
            col!("Volume", "string", 0, |o| json!(
                s(&o["spec"]["volumeName"])
            )),
            col!("Capacity", "string", 0, |o| json!(s(
                &o["status"]["capacity"]["storage"]
            ))),
            col!("Access Modes", "string", 0, |o| access_modes(
                &o["status"]["accessModes"]
            )),
            col!("StorageClass", "string", 0, |o| o["spec"]
                ["storageClassName"]
                .clone()),
            age_col,
        ],
        ("coordination.k8s.io", "Lease") => vec![
            name_col,
            col!("Holder", "string", 0, |o| o["spec"]["holderIdentity"]
                .clone()),
            age_col,
        ],
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => vec![
            name_col,
            col!("Created At", "date", 0, |o| o["metadata"]
                ["creationTimestamp"]
                .clone()),
        ],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => vec![
            name_col,
            col!("Role", "string", 0, |o| json!(format!(
                "{}/{}",
                s(&o["roleRef"]["kind"]),
                s(&o["roleRef"]["name"])
            ))),
            age_col,
            col!("Users", "string", 1, |o| subjects(o, "User")),
            col!("Groups", "string", 1, |o| subjects(o, "Group")),
            col!("ServiceAccounts", "string", 1, |o| subjects(
                o,
                "ServiceAccount"
            )),
        ],
        ("", "Namespace") => vec![
            name_col,
            col!("Status", "string", 0, |o| o["status"]["phase"].clone()),
            age_col,
        ],
        ("batch", "Job") => vec![
            name_col,
            col!("Status", "string", 0, job_status),
            col!("Completions", "string", 0, |o| json!(format!(
                "{}/{}",
                int(&o["status"]["succeeded"]),
                int(&o["spec"]["completions"])
            ))),
            age_col,
            col!("Containers", "string", 1, containers),
            col!("Images", "string", 1, images),
        ],
        ("", "Event") => vec![
            col!("Last Seen", "string", 0, |o| {
                let t = o["lastTimestamp"]
                    .as_str()
                    .or(o["eventTime"].as_str())
                    .unwrap_or(s(&o["metadata"]["creationTimestamp"]));
                json!(since(t))
            }),
            col!("Type", "string", 0, |o| o["type"].clone()),
            col!("Reason", "string", 0, |o| o["reason"].clone()),
            col!("Object", "string", 0, |o| {
                json!(format!(
                    "{}/{}",
                    s(&o["involvedObject"]["kind"]).to_lowercase(),
                    s(&o["involvedObject"]["name"])
                ))
            }),
            col!("Message", "string", 0, |o| o["message"].clone()),
        ],
        ("", "ConfigMap") => vec![
            name_col,
            col!("Data", "integer", 0, |o| json!(
                o["data"].as_object().map_or(0, |m| m.len())
                    + o["binaryData"].as_object().map_or(0, |m| m.len())
            )),
            age_col,
        ],
        ("", "Secret") => vec![
            name_col,
            col!("Type", "string", 0, |o| o["type"].clone()),
            col!("Data", "integer", 0, |o| json!(o["data"]
                .as_object()
                .map_or(0, |m| m.len()))),
            age_col,
        ],
        _ => vec![name_col, age_col],
    }
}

/// `.spec.replicas`-style JSONPath, the subset CRD printer columns use.
fn json_path<'a>(o: &'a Value, path: &str) -> &'a Value {
    let mut v = o;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        v = &v[part];
    }
    v
}

/// Column definitions and cells for one resource; `crd` is its CRD, for custom resources.
pub struct Printer {
    cols: Vec<Col>,
    custom: Vec<(String, String, u8, String)>,
}

impl Printer {
    pub fn new(info: &ResourceInfo, crd: Option<&Value>) -> Printer {
        let mut custom = Vec::new();
        if let Some(crd) = crd {
            let version = crd["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["name"] == info.version.as_str());
            for c in version
                .and_then(|v| v["additionalPrinterColumns"].as_array())
                .into_iter()
                .flatten()
            {
                custom.push((
                    s(&c["name"]).to_string(),
                    c["type"].as_str().unwrap_or("string").to_string(),
                    c["priority"].as_u64().unwrap_or(0) as u8,
                    s(&c["jsonPath"]).to_string(),
                ));
            }
        }
        let mut cols = builtin_columns(info);
        if !custom.is_empty() {
            cols.truncate(1); // Name; the CRD's columns follow (Age among them or appended)
        }
        Printer { cols, custom }
    }

    fn column_definitions(&self) -> Vec<Value> {
        let mut defs: Vec<Value> = self
            .cols
            .iter()
            .map(|c| json!({"name": c.name, "type": c.ty, "format": if c.name == "Name" { "name" } else { "" }, "description": "", "priority": c.priority}))
            .collect();
        for (n, t, p, _) in &self.custom {
            defs.push(
                json!({"name": n, "type": t, "format": "", "description": "", "priority": p}),
            );
        }
        if !self.custom.is_empty() && !self.custom.iter().any(|c| c.0 == "Age") {
            defs.push(json!({"name": "Age", "type": "date", "format": "", "description": "", "priority": 0}));
        }
        defs
    }

    fn row(&self, obj: &Value, include: Include) -> Value {
        let mut cells: Vec<Value> = self.cols.iter().map(|c| (c.cell)(obj)).collect();
        for (_, t, _, path) in &self.custom {
            let v = json_path(obj, path);
            cells.push(if *t == "date" {
                json!(since(s(v)))
            } else if v.is_null() {
                json!("<none>")
            } else {
                v.clone()
            });
        }
        if !self.custom.is_empty() && !self.custom.iter().any(|c| c.0 == "Age") {
            cells.push(age(obj));
        }
        let mut row = json!({"cells": cells});
        match include {
            Include::None => {}
            Include::Object => row["object"] = obj.clone(),
            Include::Metadata => {
                row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]});
            }
        }
        row
    }

    /// A Table of `objects`; without headers when `headers` is false (later watch events).
    pub fn table(
        &self,
        objects: &[Value],
        include: Include,
        rv: Option<u64>,
        cont: Option<&str>,
        headers: bool,
    ) -> Value {
        let mut md = json!({});
        if let Some(rv) = rv {
            md["resourceVersion"] = json!(rv.to_string());
        }
        if let Some(c) = cont {
            md["continue"] = json!(c);
        }
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": md,
            "columnDefinitions": if headers { self.column_definitions() } else { vec![] },
            "rows": objects.iter().map(|o| self.row(o, include)).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_durations() {
        let ago = |s: i64| (chrono::Utc::now() - chrono::Duration::seconds(s)).to_rfc3339();
        assert_eq!(super::since(&ago(5)), "5s");
        assert_eq!(super::since(&ago(190)), "3m10s");
        assert_eq!(super::since(&ago(3600 * 5 + 60)), "5h1m");
        assert_eq!(super::since(&ago(86400 * 3 + 3600)), "3d1h");
    }
}
