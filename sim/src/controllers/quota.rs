//! The resourcequota controller: each ResourceQuota's `status.hard` copied from
//! `spec.hard` and `status.used` recounted from the namespace's pods and claims (and the
//! objects `count/<resource>` names), written as kube-controller-manager writes it: every
//! tracked resource listed, zeros included, terminated pods (Succeeded, Failed) charged to
//! `count/pods` only. Runs on every change of a quota, pod or claim in the namespace.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::{str_at, Action, Key, Queue, Reconciler};
use crate::error::ApiError;
use crate::kinds::quantity::Quantity;
use crate::resources::ResourceId;
use crate::store::admission::{
    add, pod_resource, pod_usage, pvc_resource, pvc_usage, resource_list, ResourceList,
};
use crate::store::{EventType, Store, WriteOptions};

const MANAGER: &str = "kube-controller-manager";

pub struct QuotaController {
    store: Store,
}

pub(crate) fn spawn(tasks: &mut JoinSet<()>, store: &Store) {
    let queue = Queue::new();
    let quotas = ResourceId::core("resourcequotas");
    let q = queue.clone();
    super::spawn_watch(tasks, store, quotas.clone(), move |ev| {
        if ev.kind != EventType::Deleted {
            q.add((ev.namespace.clone(), ev.name.clone()));
        }
    });
    // A pod or claim changed: every quota of its namespace is looked at again.
    for res in ["pods", "persistentvolumeclaims"] {
        let q = queue.clone();
        let st = store.clone();
        super::spawn_watch(tasks, store, ResourceId::core(res), move |ev| {
            if let Ok(list) = st.list(
                &ResourceId::core("resourcequotas"),
                Some(&ev.namespace),
                &Default::default(),
            ) {
                for quota in list.values() {
                    q.add(super::key_of(&quota));
                }
            }
        });
    }
    super::spawn_resync(tasks, store, quotas, Duration::from_secs(30), queue.clone());
    let c = Arc::new(QuotaController {
        store: store.clone(),
    });
    tasks.spawn(super::run_worker(c, queue));
}

impl QuotaController {
    /// The usage of the tracked resources `names` in `ns` (zeros for those with none).
    fn usage(&self, ns: &str, names: &[String]) -> Result<ResourceList, ApiError> {
        let mut used: ResourceList = names
            .iter()
            .map(|n| (n.clone(), Quantity::zero()))
            .collect();
        let list = |res: &str| -> Result<Vec<Value>, ApiError> {
            Ok(self
                .store
                .list(&ResourceId::core(res), Some(ns), &Default::default())?
                .values())
        };
        if names.iter().any(|n| pod_resource(n)) {
            for p in list("pods")? {
                used = add(&used, &pod_usage(&p));
            }
        }
        if names.iter().any(|n| pvc_resource(n)) {
            for p in list("persistentvolumeclaims")? {
                used = add(&used, &pvc_usage(&p));
            }
        }
        for n in names {
            let counted = match n.as_str() {
                "configmaps" | "secrets" | "services" | "resourcequotas" => Some(n.clone()),
                c if c.starts_with("count/") && !pod_resource(c) && !pvc_resource(c) => {
                    Some(c["count/".len()..].to_string())
                }
                _ => None,
            };
            let Some(res) = counted else { continue };
            let (resource, group) = res.split_once('.').unwrap_or((&res, ""));
            let id = ResourceId::new(group, resource);
            if let Ok(l) = self.store.list(&id, Some(ns), &Default::default()) {
                used.insert(n.clone(), Quantity::from_int(l.values().len() as i64));
            }
        }
        used.retain(|k, _| names.contains(k));
        Ok(used)
    }
}

/// Resources the controller can count.
fn trackable(name: &str) -> bool {
    pod_resource(name)
        || pvc_resource(name)
        || matches!(
            name,
            "configmaps" | "secrets" | "services" | "resourcequotas" | "replicationcontrollers"
        )
        || name.starts_with("count/")
}

impl Reconciler for QuotaController {
    const NAME: &'static str = "resourcequota";

    async fn reconcile(&self, key: &Key) -> Result<Action, ApiError> {
        let (ns, name) = key;
        let res = ResourceId::core("resourcequotas");
        let quota = match self.store.get(&res, ns, name) {
            Ok(q) => q,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        let hard = resource_list(&quota["spec"]["hard"]);
        let names: Vec<String> = hard.keys().filter(|k| trackable(k)).cloned().collect();
        let used = self.usage(ns, &names)?;
        let to_json = |l: &ResourceList| -> Value {
            l.iter()
                .map(|(k, v)| (k.clone(), json!(v.to_string())))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let mut status = json!({"hard": to_json(&hard), "used": to_json(&used)});
        if hard.is_empty() {
            status = json!({});
        }
        if quota["status"] == status {
            return Ok(Action::Done);
        }
        let uid = str_at(&quota, &["metadata", "uid"]).to_string();
        match self.store.modify(
            &res,
            ns,
            name,
            Some("status"),
            &WriteOptions::by(MANAGER),
            |mut cur| {
                if str_at(&cur, &["metadata", "uid"]) != uid {
                    return Err(ApiError::not_found("resourcequotas", name));
                }
                cur["status"] = status.clone();
                Ok(cur)
            },
        ) {
            Ok(_) | Err(ApiError { code: 404, .. }) => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }
}
