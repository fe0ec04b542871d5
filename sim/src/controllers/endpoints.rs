//! Service → `Endpoints` and `discovery.k8s.io/v1` `EndpointSlices`, as the endpoints
//! and endpointslice controllers keep them: for a Service with a selector, the pods it
//! selects that have an IP, ready ones as `addresses` and the others as
//! `notReadyAddresses` (all addresses with `publishNotReadyAddresses`); ports with
//! `targetPort` resolved by number or by the pod's container port name. Pods that
//! resolve a named port differently land in separate subsets and slices.
//!
//! Pod changes map to Services through a cache of each namespace's selectors, taken
//! from the Service watch, so a pod event costs one selector match per Service in its
//! namespace, not a list.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::{controller_ref, map_selector, pod, str_at, Action, Key, Queue, Reconciler};
use crate::error::ApiError;
use crate::resources::ResourceId;
use crate::store::{DeleteOptions, EventType, LabelSelector, ListParams, Store, WriteOptions};

/// Who this controller's writes are recorded for in `managedFields`, as the real one.
const MANAGER: &str = "kube-controller-manager";

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

fn slices() -> ResourceId {
    ResourceId::new("discovery.k8s.io", "endpointslices")
}

pub struct EndpointsController {
    store: Store,
}

type Selectors = HashMap<String, HashMap<String, LabelSelector>>;

pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store) {
    let queue = Queue::new();
    let selectors: Arc<Mutex<Selectors>> = Default::default();
    let (q, sel) = (queue.clone(), selectors.clone());
    super::spawn_watch(tasks, store, ResourceId::core("services"), move |ev| {
        let mut sel = sel.lock().unwrap_or_else(|e| e.into_inner());
        let ns = sel.entry(ev.namespace.clone()).or_default();
        match (ev.kind, map_selector(&ev.value()["spec"]["selector"])) {
            (EventType::Deleted, _) | (_, None) => {
                ns.remove(&ev.name);
            }
            (_, Some(s)) => {
                ns.insert(ev.name.clone(), s);
            }
        }
        q.add((ev.namespace.clone(), ev.name.clone()));
    });
    let (q, sel) = (queue.clone(), selectors);
    super::spawn_watch(tasks, store, ResourceId::core("pods"), move |ev| {
        let sel = sel.lock().unwrap_or_else(|e| e.into_inner());
        let Some(services) = sel.get(&ev.namespace) else {
            return;
        };
        for (name, s) in services {
            let now = s.matches(&ev.meta.labels);
            let before = ev.prev.as_ref().is_some_and(|(_, m)| s.matches(&m.labels));
            if now || before {
                q.add((ev.namespace.clone(), name.clone()));
            }
        }
    });
    super::spawn_resync(
        tasks,
        store,
        ResourceId::core("services"),
        Duration::from_secs(10),
        queue.clone(),
    );
    let c = Arc::new(EndpointsController {
        store: store.clone(),
    });
    tasks.spawn(super::run_worker(c, queue));
}

/// One address of a subset or slice.
#[derive(Debug, Clone)]
struct Address {
    ip: String,
    ready: bool,
    node: String,
    hostname: Option<String>,
    target: Value,
}

/// The service's ports for one pod: `(name, port, protocol, appProtocol)`, or `None`
/// when a named targetPort does not exist in the pod.
fn resolve_ports(svc: &Value, p: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for sp in svc["spec"]["ports"].as_array().into_iter().flatten() {
        let protocol = sp["protocol"].as_str().unwrap_or("TCP");
        let target = &sp["targetPort"];
        let port = match target {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok().or_else(|| {
                p["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                    .find(|cp| {
                        cp["name"] == s.as_str()
                            && cp["protocol"].as_str().unwrap_or("TCP") == protocol
                    })
                    .and_then(|cp| cp["containerPort"].as_i64())
            }),
            _ => sp["port"].as_i64(),
        };
        let Some(port) = port else { continue };
        let mut ep = json!({"port": port, "protocol": protocol});
        if let Some(n) = sp["name"].as_str().filter(|n| !n.is_empty()) {
            ep["name"] = json!(n);
        }
        if let Some(a) = sp["appProtocol"].as_str() {
            ep["appProtocol"] = json!(a);
        }
        out.push(ep);
    }
    out
}

impl Reconciler for EndpointsController {
    const NAME: &'static str = "endpoints";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let svc = match self.store.get(&ResourceId::core("services"), ns, name) {
            Ok(s) => s,
            Err(e) if e.code == 404 => {
                // Slices go with the Service (owner references); Endpoints have no owner.
                return match self.store.delete(
                    &ResourceId::core("endpoints"),
                    ns,
                    name,
                    &DeleteOptions::default(),
                ) {
                    Ok(_) | Err(ApiError { code: 404, .. }) => Ok(Action::Done),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let Some(selector) = map_selector(&svc["spec"]["selector"]) else {
            return Ok(Action::Done);
        };
        if svc["metadata"]["deletionTimestamp"].is_string() {
            return Ok(Action::Done);
        }
        let publish_not_ready = svc["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
        let pods = self.store.list(
            &ResourceId::core("pods"),
            Some(ns),
            &ListParams {
                labels: selector,
                ..Default::default()
            },
        )?;
        // Port set (as JSON) → addresses, so pods that resolve named ports alike share a subset.
        let mut groups: BTreeMap<String, (Vec<Value>, Vec<Address>)> = BTreeMap::new();
        for p in pods.values() {
            let Some(ip) = p["status"]["podIP"].as_str().filter(|s| !s.is_empty()) else {
                continue;
            };
            if pod::terminal(&p) || pod::deleting(&p) {
                continue;
            }
            let ports = resolve_ports(&svc, &p);
            let hostname = p["spec"]["hostname"]
                .as_str()
                .filter(|_| p["spec"]["subdomain"] == svc["metadata"]["name"])
                .map(String::from);
            let addr = Address {
                ip: ip.to_string(),
                ready: pod::ready(&p) || publish_not_ready,
                node: str_at(&p, &["spec", "nodeName"]).to_string(),
                hostname,
                target: json!({"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}),
            };
            let k = Value::Array(ports.clone()).to_string();
            groups
                .entry(k)
                .or_insert_with(|| (ports, Vec::new()))
                .1
                .push(addr);
        }
        for (_, addrs) in groups.values_mut() {
            addrs.sort_by(|a, b| a.ip.cmp(&b.ip));
        }
        self.write_endpoints(&svc, &groups)?;
        self.write_slices(&svc, &groups)?;
        Ok(Action::Done)
    }
}

impl EndpointsController {
    fn write_endpoints(
        &self,
        svc: &Value,
        groups: &BTreeMap<String, (Vec<Value>, Vec<Address>)>,
    ) -> Result<(), ApiError> {
        let (ns, name) = super::key_of(svc);
        let ep_addr = |a: &Address| {
            let mut v = json!({"ip": a.ip, "targetRef": a.target});
            if !a.node.is_empty() {
                v["nodeName"] = json!(a.node);
            }
            if let Some(h) = &a.hostname {
                v["hostname"] = json!(h);
            }
            v
        };
        let subsets: Vec<Value> = groups
            .values()
            .filter(|(_, addrs)| !addrs.is_empty())
            .map(|(ports, addrs)| {
                let mut s = json!({});
                let ready: Vec<Value> = addrs.iter().filter(|a| a.ready).map(ep_addr).collect();
                let not_ready: Vec<Value> =
                    addrs.iter().filter(|a| !a.ready).map(ep_addr).collect();
                if !ready.is_empty() {
                    s["addresses"] = json!(ready);
                }
                if !not_ready.is_empty() {
                    s["notReadyAddresses"] = json!(not_ready);
                }
                if !ports.is_empty() {
                    s["ports"] = json!(ports);
                }
                s
            })
            .collect();
        let mut labels = svc["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if svc["spec"]["clusterIP"] == "None" {
            labels.insert("service.kubernetes.io/headless".into(), json!(""));
        }
        let res = ResourceId::core("endpoints");
        match self.store.get(&res, &ns, &name) {
            Ok(cur) => {
                let cur_subsets = cur.get("subsets").cloned().unwrap_or(json!([]));
                let cur_labels = cur["metadata"]["labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                if cur_subsets == json!(subsets) && cur_labels == labels {
                    return Ok(());
                }
                let mut new = cur;
                new["subsets"] = json!(subsets);
                new["metadata"]["labels"] = Value::Object(labels);
                new["metadata"]["annotations"]
                    ["endpoints.kubernetes.io/last-change-trigger-time"] = json!(super::now());
                match self
                    .store
                    .update(&res, &ns, &name, new, &WriteOptions::by(MANAGER))
                {
                    Ok(_) | Err(ApiError { code: 404, .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) if e.code == 404 => {
                let ep = json!({
                    "apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": ns, "labels": labels,
                        "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": super::now()}},
                    "subsets": subsets,
                });
                match self.store.create(&res, &ns, ep, &WriteOptions::by(MANAGER)) {
                    Ok(_) | Err(ApiError { code: 409, .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn write_slices(
        &self,
        svc: &Value,
        groups: &BTreeMap<String, (Vec<Value>, Vec<Address>)>,
    ) -> Result<(), ApiError> {
        let (ns, name) = super::key_of(svc);
        let svc_uid = str_at(svc, &["metadata", "uid"]);
        let selector = LabelSelector::parse(&format!(
            "{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}"
        ))?;
        let existing: Vec<Value> = self
            .store
            .list(
                &slices(),
                Some(&ns),
                &ListParams {
                    labels: selector,
                    ..Default::default()
                },
            )?
            .values()
            .into_iter()
            .filter(|s| super::controlled_by(s, svc_uid))
            .collect();
        let zones = self.node_zones();
        let mut wanted: Vec<(Vec<Value>, Vec<Value>)> = groups
            .values()
            .map(|(ports, addrs)| {
                let endpoints = addrs
                    .iter()
                    .map(|a| {
                        let mut e = json!({
                            "addresses": [a.ip],
                            "conditions": {"ready": a.ready, "serving": a.ready, "terminating": false},
                            "targetRef": a.target,
                        });
                        if !a.node.is_empty() {
                            e["nodeName"] = json!(a.node);
                            if let Some(z) = zones.get(&a.node) {
                                e["zone"] = json!(z);
                            }
                        }
                        if let Some(h) = &a.hostname {
                            e["hostname"] = json!(h);
                        }
                        e
                    })
                    .collect();
                (ports.clone(), endpoints)
            })
            .collect();
        if wanted.is_empty() {
            // A Service without endpoints still gets one (empty) slice with its ports.
            wanted.push((resolve_ports(svc, &json!({})), Vec::new()));
        }
        let mut labels = svc["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        labels.insert(SERVICE_NAME_LABEL.into(), json!(name));
        labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
        let res = slices();
        for (i, (ports, endpoints)) in wanted.iter().enumerate() {
            match existing.get(i) {
                Some(cur) => {
                    if cur["endpoints"].as_array().cloned().unwrap_or_default() == *endpoints
                        && cur["ports"].as_array().cloned().unwrap_or_default() == *ports
                        && cur["metadata"]["labels"].as_object() == Some(&labels)
                    {
                        continue;
                    }
                    let mut new = cur.clone();
                    new["endpoints"] = json!(endpoints);
                    new["ports"] = json!(ports);
                    new["metadata"]["labels"] = Value::Object(labels.clone());
                    let slice_name = str_at(cur, &["metadata", "name"]).to_string();
                    match self
                        .store
                        .update(&res, &ns, &slice_name, new, &WriteOptions::by(MANAGER))
                    {
                        Ok(_) | Err(ApiError { code: 404, .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                None => {
                    let slice = json!({
                        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"generateName": format!("{name}-"), "namespace": ns, "labels": labels,
                            "ownerReferences": [controller_ref(svc)]},
                        "addressType": "IPv4",
                        "endpoints": endpoints,
                        "ports": ports,
                    });
                    self.store
                        .create(&res, &ns, slice, &WriteOptions::by(MANAGER))?;
                }
            }
        }
        for extra in existing.iter().skip(wanted.len()) {
            match self.store.delete(
                &res,
                &ns,
                str_at(extra, &["metadata", "name"]),
                &DeleteOptions::default(),
            ) {
                Ok(_) | Err(ApiError { code: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn node_zones(&self) -> HashMap<String, String> {
        self.store
            .list(&ResourceId::core("nodes"), None, &ListParams::default())
            .map(|l| {
                l.values()
                    .into_iter()
                    .filter_map(|n| {
                        let zone = n["metadata"]["labels"]["topology.kubernetes.io/zone"]
                            .as_str()?
                            .to_string();
                        Some((str_at(&n, &["metadata", "name"]).to_string(), zone))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
