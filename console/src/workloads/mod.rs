//! Server side of workloads: rows built from the watcher cache, and changes made through
//! `kube::Api` in the namespaces of a [`TenantScope`].

pub(crate) mod conflict;
pub mod endpoints;
pub mod pod;
pub mod probes;
pub mod security;
pub mod stateful_revisions;

use crate::auth::TenantScope;
use crate::state::{AppState, Cache};
use chrono::{DateTime, Utc};
use conflict::retry_on_conflict;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod, Secret, Service};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use wharf_api::error::AppError;
use wharf_api::text;
use wharf_api::workloads::{
    validate, AppHealth, AppKind, AppRevision, AppRow, DeployForm, EventRow, PodPage, PodQuery,
    PodRow, ServiceRow, WorkloadView, EDITABLE_KINDS, MAX_POD_PAGE,
};

pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "wharf");
/// Why the Deployment's template last changed; the controller copies it onto the
/// ReplicaSet, so each revision keeps its own (what `kubectl rollout history` shows).
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

/// k8s-openapi keeps times as `jiff` timestamps; the shared types use chrono.
pub fn to_chrono(t: &k8s_openapi::jiff::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32).unwrap_or_default()
}

fn created(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<DateTime<Utc>> {
    meta.creation_timestamp.as_ref().map(|t| to_chrono(&t.0))
}

pub fn app_row(d: &Deployment) -> AppRow {
    let spec = d.spec.as_ref();
    let status = d.status.clone().unwrap_or_default();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let current = status.replicas.unwrap_or(0);
    let observed = status.observed_generation.unwrap_or(0);
    let generation = d.metadata.generation.unwrap_or(0);
    let health = if desired == 0 && current == 0 {
        AppHealth::Stopped
    } else if observed < generation || updated < desired || current > desired {
        AppHealth::Progressing
    } else if ready < desired {
        AppHealth::Degraded
    } else {
        AppHealth::Running
    };
    let image = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    AppRow {
        namespace: d.namespace().unwrap_or_default(),
        name: d.name_any(),
        image,
        replicas: desired,
        ready,
        updated,
        health,
        created: created(&d.metadata),
        problem: status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
            .and_then(|c| c.message.clone()),
        kind: AppKind::Deployment,
    }
}

/// A StatefulSet as an app row: updated replicas are those of the update revision.
pub fn stateful_app_row(s: &StatefulSet) -> AppRow {
    let spec = s.spec.as_ref();
    let status = s.status.clone().unwrap_or_default();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let current = status.replicas;
    let observed = status.observed_generation.unwrap_or(0);
    let generation = s.metadata.generation.unwrap_or(0);
    let health = if desired == 0 && current == 0 {
        AppHealth::Stopped
    } else if observed < generation || updated < desired || current != desired {
        AppHealth::Progressing
    } else if ready < desired {
        AppHealth::Degraded
    } else {
        AppHealth::Running
    };
    AppRow {
        namespace: s.namespace().unwrap_or_default(),
        name: s.name_any(),
        image: spec
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        replicas: desired,
        ready,
        updated,
        health,
        created: created(&s.metadata),
        problem: None,
        kind: AppKind::StatefulSet,
    }
}

/// STATUS as `kubectl get pods` shows it.
pub fn pod_status(p: &Pod) -> String {
    if p.metadata.deletion_timestamp.is_some() {
        return "Terminating".into();
    }
    let status = p.status.clone().unwrap_or_default();
    for cs in status.init_container_statuses.iter().flatten() {
        if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            return format!("Init:{}", w.reason.clone().unwrap_or_default());
        }
    }
    for cs in status.container_statuses.iter().flatten() {
        let state = cs.state.clone().unwrap_or_default();
        if let Some(reason) = state.waiting.and_then(|w| w.reason) {
            return reason;
        }
        if let Some(t) = state.terminated {
            if status.phase.as_deref() == Some("Running") || t.exit_code != 0 {
                return t
                    .reason
                    .unwrap_or_else(|| format!("ExitCode:{}", t.exit_code));
            }
        }
    }
    status.phase.unwrap_or_else(|| "Pending".into())
}

pub fn pod_row(p: &Pod) -> PodRow {
    let status = p.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.clone().unwrap_or_default();
    let spec = p.spec.clone().unwrap_or_default();
    let total = spec.containers.len();
    let ready = statuses.iter().filter(|c| c.ready).count();
    PodRow {
        namespace: p.namespace().unwrap_or_default(),
        name: p.name_any(),
        app: p.labels().get("app").cloned(),
        status: pod_status(p),
        ready: format!("{ready}/{total}"),
        restarts: statuses.iter().map(|c| c.restart_count).sum(),
        node: spec.node_name.clone().unwrap_or_default(),
        ip: status.pod_ip.unwrap_or_default(),
        image: spec
            .containers
            .first()
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        containers: spec.containers.iter().map(|c| c.name.clone()).collect(),
        created: created(&p.metadata),
        claims: spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| c.claim_name.clone())
            .collect(),
        updated: None,
    }
}

/// For a StatefulSet's replica: whether its revision (label `controller-revision-hash`) is the
/// set's update revision. `None` for other pods, or while the set reports no revision.
fn runs_update_revision(cache: &Cache, p: &Pod) -> Option<bool> {
    let owner = p
        .owner_references()
        .iter()
        .find(|o| o.kind == "StatefulSet" && o.controller == Some(true))?;
    let set = cache.statefulsets.get(
        &ObjectRef::new(&owner.name).within(p.metadata.namespace.as_deref().unwrap_or_default()),
    )?;
    let want = set.status.as_ref()?.update_revision.as_deref()?;
    Some(
        p.labels()
            .get("controller-revision-hash")
            .map(String::as_str)
            == Some(want),
    )
}

pub fn service_row(s: &Service) -> ServiceRow {
    let spec = s.spec.clone().unwrap_or_default();
    let ports = spec
        .ports
        .unwrap_or_default()
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p.port,
                p.protocol.clone().unwrap_or_else(|| "TCP".into())
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    ServiceRow {
        namespace: s.namespace().unwrap_or_default(),
        name: s.name_any(),
        kind: spec.type_.unwrap_or_else(|| "ClusterIP".into()),
        cluster_ip: spec.cluster_ip.unwrap_or_default(),
        ports,
        created: created(&s.metadata),
    }
}

fn in_scope(scope: &TenantScope, ns: Option<&str>) -> bool {
    ns.is_some_and(|ns| scope.contains(ns))
}

/// The tenant's view, sorted by namespace and name.
pub fn view(cache: &Cache, scope: &TenantScope) -> WorkloadView {
    let version = cache.changes.workloads().version();
    let mut apps: Vec<AppRow> = cache
        .deployments
        .state()
        .iter()
        .filter(|d| in_scope(scope, d.metadata.namespace.as_deref()))
        .map(|d| app_row(d))
        .collect();
    apps.extend(
        cache
            .statefulsets
            .state()
            .iter()
            .filter(|s| in_scope(scope, s.metadata.namespace.as_deref()))
            .map(|s| stateful_app_row(s)),
    );
    let mut services: Vec<ServiceRow> = cache
        .services
        .state()
        .iter()
        .filter(|s| in_scope(scope, s.metadata.namespace.as_deref()))
        .map(|s| service_row(s))
        .collect();
    let pod_total = cache
        .pods
        .state()
        .iter()
        .filter(|p| in_scope(scope, p.metadata.namespace.as_deref()))
        .count();
    apps.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    WorkloadView {
        apps,
        services,
        pod_total,
        version,
    }
}

/// One page of the tenant's pods. Only the rows of the page are built.
pub fn pods(cache: &Cache, scope: &TenantScope, q: &PodQuery) -> Result<PodPage, AppError> {
    if let Some(ns) = &q.namespace {
        scope.namespace(ns)?;
    }
    let limit = q.limit.clamp(1, MAX_POD_PAGE);
    let filter = q.filter.trim();
    let state = cache.pods.state();
    let mut matching: Vec<&Pod> = state
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| in_scope(scope, p.metadata.namespace.as_deref()))
        .filter(|p| {
            q.namespace
                .as_deref()
                .is_none_or(|ns| p.metadata.namespace.as_deref() == Some(ns))
        })
        .filter(|p| {
            q.app
                .as_deref()
                .is_none_or(|app| p.labels().get("app").map(String::as_str) == Some(app))
        })
        .filter(|p| {
            filter.is_empty()
                || p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.contains(filter))
        })
        .collect();
    let total = matching.len();
    let key = |p: &&Pod| (p.metadata.namespace.clone(), p.metadata.name.clone());
    // NB: only the page is sorted fully; the rest is partitioned around it (O(n)).
    let offset = q.offset.min(total);
    let end = (offset + limit).min(total);
    if offset < total {
        matching.select_nth_unstable_by_key(offset, key);
        let rest = &mut matching[offset..];
        if end - offset < rest.len() {
            rest.select_nth_unstable_by_key(end - offset, key);
        }
        rest[..end - offset].sort_by_key(key);
    }
    let rows = matching[offset..end]
        .iter()
        .map(|p| PodRow {
            updated: runs_update_revision(cache, p),
            ..pod_row(p)
        })
        .collect();
    Ok(PodPage {
        total,
        offset,
        rows,
    })
}

fn deployments(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
) -> Result<Api<Deployment>, AppError> {
    Ok(Api::namespaced(
        state.client.clone(),
        scope.namespace(namespace)?,
    ))
}

/// The app `name` of `namespace`, a Deployment or a StatefulSet, as a dynamic object with
/// its `Api` (scale, patch and delete are the same for both).
pub(crate) async fn app_object(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<(AppKind, Api<DynamicObject>, DynamicObject), AppError> {
    for (kind, ar) in [
        (AppKind::Deployment, ApiResource::erase::<Deployment>(&())),
        (AppKind::StatefulSet, ApiResource::erase::<StatefulSet>(&())),
    ] {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        match api.get_opt(name).await {
            Ok(Some(obj)) => return Ok((kind, api, obj)),
            Ok(None) => {}
            // a cluster that serves no StatefulSets has none of that name
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::NotFound(text!(
        "app {namespace}/{name}",
        "应用 {namespace}/{name}"
    )))
}

/// The pod spec the deploy form describes (the app's container first, then sidecars), fit
/// for the tenant's Pod Security `level`.
fn pod_of(form: &DeployForm, level: crds::PodSecurity) -> Value {
    let mut resources = json!({});
    let mut put = |section: &str, key: &str, value: &str| {
        if !value.is_empty() {
            resources[section][key] = json!(value);
        }
    };
    put("requests", "cpu", &form.cpu_request);
    put("limits", "cpu", &form.cpu_limit);
    put("requests", "memory", &form.memory_request);
    put("limits", "memory", &form.memory_limit);
    let env: Vec<_> = form
        .env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let ports: Vec<_> = form
        .port
        .iter()
        .map(|p| json!({"name": "http", "containerPort": p}))
        .collect();
    let mut pod = json!({"containers": [{
        "name": form.name,
        "image": form.image,
        "ports": ports,
        "env": env,
        "resources": resources,
    }]});
    pod::extend_pod(&mut pod, form);
    security::harden(&mut pod, level);
    pod
}

/// The Deployment the deploy form describes, its pods fit for the tenant's Pod Security `level`.
pub fn deployment_of(form: &DeployForm, level: crds::PodSecurity) -> Result<Deployment, AppError> {
    let labels = json!({"app": form.name, MANAGED_BY.0: MANAGED_BY.1});
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": form.name, "namespace": form.namespace, "labels": labels},
        "spec": {
            "replicas": form.replicas,
            "selector": {"matchLabels": {"app": form.name}},
            "template": {
                "metadata": {"labels": {"app": form.name}},
                "spec": pod_of(form, level),
            }
        }
    }))
    .map_err(|e| AppError::internal(text!("building the Deployment", "生成 Deployment 失败"), e))
}

/// The StatefulSet the deploy form describes: stable pod names, a claim per replica from
/// each new claim of the form, its Service (the app's name) as the governing one.
pub fn stateful_set_of(
    form: &DeployForm,
    level: crds::PodSecurity,
) -> Result<StatefulSet, AppError> {
    let labels = json!({"app": form.name, MANAGED_BY.0: MANAGED_BY.1});
    let templates: Vec<Value> = pod::claims(form)
        .into_iter()
        .map(|mut c| {
            if let Some(o) = c.as_object_mut() {
                o.remove("apiVersion");
                o.remove("kind");
            }
            c
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": form.name, "namespace": form.namespace, "labels": labels},
        "spec": {
            "replicas": form.replicas,
            "serviceName": form.name,
            "selector": {"matchLabels": {"app": form.name}},
            "template": {
                "metadata": {"labels": {"app": form.name}},
                "spec": pod_of(form, level),
            },
            "volumeClaimTemplates": templates,
        }
    }))
    .map_err(|e| {
        AppError::internal(
            text!("building the StatefulSet", "生成 StatefulSet 失败"),
            e,
        )
    })
}

/// The Service a deploy creates beside its app: the app's port, same name.
fn service_of(form: &DeployForm, port: u16) -> Result<Service, AppError> {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": form.name, "namespace": form.namespace, "labels": {"app": form.name, MANAGED_BY.0: MANAGED_BY.1}},
        "spec": {"selector": {"app": form.name}, "ports": [{"name": "http", "port": port, "targetPort": port}]}
    }))
    .map_err(|e| AppError::internal(text!("building the Service", "生成 Service 失败"), e))
}

/// What a deploy created so far, in order, to take back when a later step fails.
struct Made<'a> {
    client: kube::Client,
    namespace: &'a str,
    done: Vec<(&'static str, String)>,
}

impl<'a> Made<'a> {
    fn new(state: &AppState, namespace: &'a str) -> Made<'a> {
        Made {
            client: state.client.clone(),
            namespace,
            done: Vec::new(),
        }
    }

    /// The `-env` Secret, the new claims (a Deployment's), the app, its Service.
    async fn create(
        &mut self,
        form: &DeployForm,
        deployment: &Deployment,
        stateful: Option<&StatefulSet>,
    ) -> Result<(), AppError> {
        let pp = PostParams::default();
        let ns = self.namespace;
        if !form.secret_env.is_empty() {
            let name = pod::env_secret_name(&form.name);
            let secret: Secret = serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns, "labels": {"app": form.name}},
                "type": "Opaque",
                "stringData": form
                    .secret_env
                    .iter()
                    .map(|(k, v)| (k.clone(), if v.is_empty() { pod::password() } else { v.clone() }))
                    .collect::<BTreeMap<String, String>>(),
            }))
            .map_err(|e| AppError::internal(text!("building the Secret", "生成 Secret 失败"), e))?;
            Api::<Secret>::namespaced(self.client.clone(), ns)
                .create(&pp, &secret)
                .await?;
            self.done.push(("Secret", name));
        }
        if stateful.is_none() {
            for claim in pod::claims(form) {
                let claim: PersistentVolumeClaim = serde_json::from_value(claim).map_err(|e| {
                    AppError::internal(text!("building the claim", "生成存储卷声明失败"), e)
                })?;
                let name = claim.name_any();
                Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), ns)
                    .create(&pp, &claim)
                    .await?;
                self.done.push(("PersistentVolumeClaim", name));
            }
        }
        let exists = |e: kube::Error| match e {
            kube::Error::Api(s) if s.code == 409 => {
                let (name, namespace) = (&form.name, &form.namespace);
                AppError::Conflict(text!(
                    "an app named '{name}' already exists in '{namespace}'",
                    "命名空间“{namespace}”中已有名为“{name}”的应用"
                ))
            }
            other => other.into(),
        };
        match stateful {
            Some(sts) => {
                Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                    .create(&pp, sts)
                    .await
                    .map_err(exists)?;
                self.done.push(("StatefulSet", form.name.clone()));
            }
            None => {
                Api::<Deployment>::namespaced(self.client.clone(), ns)
                    .create(&pp, deployment)
                    .await
                    .map_err(exists)?;
                self.done.push(("Deployment", form.name.clone()));
            }
        }
        if let Some(port) = form.port {
            Api::<Service>::namespaced(self.client.clone(), ns)
                .create(&pp, &service_of(form, port)?)
                .await?;
            self.done.push(("Service", form.name.clone()));
        }
        Ok(())
    }

    /// Deletes what was created, newest first (best effort: the first error is the user's).
    async fn undo(&mut self) {
        let dp = DeleteParams::background();
        let c = self.client.clone();
        let ns = self.namespace;
        while let Some((kind, name)) = self.done.pop() {
            let result = match kind {
                "Secret" => Api::<Secret>::namespaced(c.clone(), ns)
                    .delete(&name, &dp)
                    .await
                    .map(drop),
                "PersistentVolumeClaim" => Api::<PersistentVolumeClaim>::namespaced(c.clone(), ns)
                    .delete(&name, &dp)
                    .await
                    .map(drop),
                "StatefulSet" => Api::<StatefulSet>::namespaced(c.clone(), ns)
                    .delete(&name, &dp)
                    .await
                    .map(drop),
                "Deployment" => Api::<Deployment>::namespaced(c.clone(), ns)
                    .delete(&name, &dp)
                    .await
                    .map(drop),
                _ => Api::<Service>::namespaced(c.clone(), ns)
                    .delete(&name, &dp)
                    .await
                    .map(drop),
            };
            if let Err(e) = result {
                tracing::warn!(%kind, %name, error = %e, "taking back a refused deploy");
            }
        }
    }
}

pub async fn deploy(
    state: &AppState,
    scope: &TenantScope,
    form: DeployForm,
) -> Result<(), AppError> {
    AppError::invalid_if_any(validate::deploy_form(&form))?;
    scope.namespace(&form.namespace)?;
    // NB: refused before anything is created when thresholds are asked for and there is no Prometheus
    let rules = if form.alerts.is_empty() {
        None
    } else {
        Some(state.settings.monitoring.rule_store()?)
    };
    let level = security::level_of(&state.cache, scope.tenant());
    // NB: what only the cluster knows (claims, ConfigMaps, Secrets, quota) is asked first
    pod::check_in_cluster(&state.client, &form).await?;
    let mut deployment = deployment_of(&form, level)?;
    if let (Some(secret), Some(pod), true) = (
        state.settings.pipelines.pull_secret_for(&form.image),
        deployment
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut()),
        form.image_pull_secret.is_empty(),
    ) {
        pod.image_pull_secrets = Some(vec![k8s_openapi::api::core::v1::LocalObjectReference {
            name: secret.to_string(),
        }]);
    }
    if form.apm {
        if let Some(spec) = deployment.spec.as_mut() {
            spec.template = crate::apm::template_for_new_app(
                state,
                scope,
                &form.namespace,
                &form.name,
                &spec.template,
            )
            .await?;
        }
    }
    let candidate = serde_json::to_value(&deployment).unwrap_or_default();
    AppError::invalid_if_any(security::policy_errors("Deployment", &candidate, level))?;
    // a StatefulSet takes the same pod template (APM and pull secret included)
    let mut stateful = match form.kind {
        AppKind::Deployment => None,
        AppKind::StatefulSet => {
            let mut sts = stateful_set_of(&form, level)?;
            if let (Some(s), Some(d)) = (sts.spec.as_mut(), deployment.spec.as_ref()) {
                s.template = d.template.clone();
            }
            Some(sts)
        }
    };
    // NB: the route is checked (names, Service port, TLS Secret, nginx -t) before anything is
    // created, and stored after the Service; a failure then takes the app back
    let route = match (&form.expose, form.port) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(AppError::Invalid(text!(
                "expose through nginx: the app needs a container port",
                "通过 nginx 暴露:应用需要容器端口"
            )))
        }
        (Some(e), Some(port)) => {
            let access = crate::nginx::Access {
                scope: scope.clone(),
                platform_admin: false,
            };
            let change = wharf_api::nginx::NginxChange::SetRoute {
                cluster: e.cluster.clone(),
                namespace: form.namespace.clone(),
                name: form.name.clone(),
                host: e.host.clone(),
                path: e.path.clone(),
                service: form.name.clone(),
                port,
                tls_secret: Some(e.tls_secret.trim().to_string()).filter(|t| !t.is_empty()),
                directives: Vec::new(),
            };
            let planned = service_of(&form, port)?;
            crate::nginx::check_planned_route(state, &access, &change, &planned).await?;
            Some((access, change, planned))
        }
    };
    let apm = if form.apm { " with APM on" } else { "" };
    deployment
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(
            CHANGE_CAUSE.into(),
            format!("deployed {}{apm} by {}", form.image, scope.user()),
        );
    if let Some(sts) = stateful.as_mut() {
        sts.metadata.annotations = deployment.metadata.annotations.clone();
    }
    // NB: each object is taken back when a later one fails: a refused deploy leaves nothing
    let mut made = Made::new(state, &form.namespace);
    let created = made.create(&form, &deployment, stateful.as_ref()).await;
    if let Err(e) = created {
        made.undo().await;
        return Err(e);
    }
    if let Some((access, change, planned)) = &route {
        if let Err(e) = crate::nginx::store_planned_route(state, access, change, planned).await {
            made.undo().await;
            return Err(e);
        }
    }
    tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %form.namespace, app = %form.name, "deployed");
    if let (Some(rules), Ok(thresholds)) = (rules, form.alerts.parse()) {
        rules
            .apply(state, &form.namespace, &form.name, &thresholds)
            .await
            .map_err(|e| {
                let e = e.text();
                AppError::Invalid(text!(
                    "The app is deployed, but its alert thresholds were not applied: {e}",
                    "应用已部署,但告警阈值未能生效:{e}"
                ))
            })?;
    }
    Ok(())
}

pub async fn scale(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
    replicas: i32,
) -> Result<(), AppError> {
    AppError::invalid_if_any(validate::replicas(replicas).err().into_iter().collect())?;
    let (_, api, _) = app_object(&state.client, scope.namespace(namespace)?, name).await?;
    api.patch_scale(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await?;
    Ok(())
}

pub async fn set_image(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
    image: &str,
) -> Result<(), AppError> {
    AppError::invalid_if_any(validate::image(image).err().into_iter().collect())?;
    let cause = format!("image set to {image} by {}", scope.user());
    set_image_because(
        &state.client,
        scope.namespace(namespace)?,
        name,
        image,
        &cause,
        state.settings.pipelines.pull_secret_for(image),
    )
    .await
}

/// Sets the image of an app's first container. No tenant check here: callers hold a
/// `TenantScope` for `namespace` (the upgrade and quick-deploy buttons) or act for a pipeline
/// run that such a caller started (automatic deploy).
pub async fn set_app_image(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    image: &str,
    pull_secret: Option<&str>,
) -> Result<(), AppError> {
    set_image_because(
        client,
        namespace,
        name,
        image,
        &format!("image set to {image}"),
        pull_secret,
    )
    .await
}

/// [`set_app_image`], recording `cause` as the new revision's change cause.
async fn set_image_because(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    image: &str,
    cause: &str,
    pull_secret: Option<&str>,
) -> Result<(), AppError> {
    let (_, api, current) = app_object(client, namespace, name).await?;
    let container = current.data["spec"]["template"]["spec"]["containers"][0]["name"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            AppError::Invalid(text!(
                "'{name}' has no container to upgrade",
                "“{name}”没有可升级的容器"
            ))
        })?;
    let mut patch = json!({
        "metadata": {"annotations": {CHANGE_CAUSE: cause}},
        "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}
    });
    // NB: merged by name (a strategic merge key): the app's other pull secrets stay
    if let Some(secret) = pull_secret {
        patch["spec"]["template"]["spec"]["imagePullSecrets"] = json!([{"name": secret}]);
    }
    api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await?;
    Ok(())
}

pub async fn restart(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
) -> Result<(), AppError> {
    let (_, api, _) = app_object(&state.client, scope.namespace(namespace)?, name).await?;
    let now = Utc::now().to_rfc3339();
    let patch = json!({
        "metadata": {"annotations": {CHANGE_CAUSE: format!("restarted by {}", scope.user())}},
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}
    });
    api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await?;
    Ok(())
}

pub async fn delete(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
) -> Result<(), AppError> {
    let (_, api, _) = app_object(&state.client, scope.namespace(namespace)?, name).await?;
    api.delete(name, &DeleteParams::background()).await?;
    let services: Api<Service> = Api::namespaced(state.client.clone(), namespace);
    if let Some(svc) = services.get_opt(name).await? {
        // Only the Service the deploy form made goes with the app.
        if svc.labels().get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1) {
            services.delete(name, &DeleteParams::background()).await?;
        }
    }
    tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %namespace, app = %name, "deleted");
    Ok(())
}

pub async fn events(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
) -> Result<Vec<EventRow>, AppError> {
    let api: Api<Event> = Api::namespaced(state.client.clone(), scope.namespace(namespace)?);
    let prefix = format!("{name}-");
    let mut rows: Vec<EventRow> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object
                .name
                .as_deref()
                .is_some_and(|n| n == name || n.starts_with(&prefix))
        })
        .map(|e| EventRow {
            kind: e.type_.unwrap_or_else(|| "Normal".into()),
            reason: e.reason.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            object: format!(
                "{}/{}",
                e.involved_object.kind.unwrap_or_default().to_lowercase(),
                e.involved_object.name.unwrap_or_default()
            ),
            count: e.count.unwrap_or(1),
            last_seen: e
                .last_timestamp
                .map(|t| to_chrono(&t.0))
                .or(e.event_time.map(|t| to_chrono(&t.0)))
                .or(e.metadata.creation_timestamp.map(|t| to_chrono(&t.0))),
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.last_seen));
    rows.truncate(100);
    Ok(rows)
}

/// A pod template as JSON without the `pod-template-hash` label the controller adds to its
/// ReplicaSet's copy, so the two compare equal when they are the same template.
fn template_without_hash(t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> Value {
    let mut t = t
        .map(|t| serde_json::to_value(t).unwrap_or_default())
        .unwrap_or_default();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    t
}

/// A JSON merge patch (RFC 7386) that turns `from` into `to`: keys `to` lacks become null,
/// so nothing of the current template survives a rollback by accident.
pub fn merge_patch_to(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(f), Value::Object(t)) => {
            let mut out = Map::new();
            for (k, tv) in t {
                out.insert(
                    k.clone(),
                    f.get(k)
                        .map_or_else(|| tv.clone(), |fv| merge_patch_to(fv, tv)),
                );
            }
            for k in f.keys().filter(|k| !t.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            Value::Object(out)
        }
        _ => to.clone(),
    }
}

/// The Deployment and the ReplicaSets it controls (its revisions).
async fn with_replica_sets(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
) -> Result<(Deployment, Vec<ReplicaSet>), AppError> {
    let namespace = scope.namespace(namespace)?;
    let d = deployments(state, scope, namespace)?
        .get_opt(name)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(text!(
                "no app named '{name}' in '{namespace}'",
                "命名空间“{namespace}”中没有名为“{name}”的应用"
            ))
        })?;
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let selector = match_labels(d.spec.as_ref().map(|s| &s.selector));
    let api: Api<ReplicaSet> = Api::namespaced(state.client.clone(), namespace);
    let owned = api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .collect();
    Ok((d, owned))
}

/// A selector's `matchLabels` as a list's label selector (`k=v,k2=v2`); empty without any.
fn match_labels(
    selector: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> String {
    selector
        .and_then(|s| s.match_labels.as_ref())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn revision_of(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The app's revisions, newest first; the current one is the ReplicaSet whose template is
/// the Deployment's (the revision annotation on the Deployment lags a moment behind).
pub async fn revisions(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
) -> Result<Vec<AppRevision>, AppError> {
    let ns = scope.namespace(namespace)?;
    if let (AppKind::StatefulSet, _, _) = app_object(&state.client, ns, name).await? {
        return stateful_revisions::revisions(state, ns, name).await;
    }
    let (d, owned) = with_replica_sets(state, scope, namespace, name).await?;
    let template = template_without_hash(d.spec.as_ref().map(|s| &s.template));
    let mut rows: Vec<AppRevision> = owned
        .iter()
        .map(|rs| {
            let spec = rs.spec.as_ref();
            let t = spec.and_then(|s| s.template.as_ref());
            let status = rs.status.as_ref();
            AppRevision {
                revision: revision_of(rs),
                replica_set: rs.name_any(),
                images: t
                    .and_then(|t| t.spec.as_ref())
                    .map(|p| {
                        p.containers
                            .iter()
                            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default(),
                created: created(&rs.metadata),
                cause: rs.annotations().get(CHANGE_CAUSE).cloned(),
                replicas: status.map(|s| s.replicas).unwrap_or(0),
                ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
                current: template_without_hash(t) == template,
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.revision));
    Ok(rows)
}

/// `kubectl rollout undo --to-revision`: that revision's pod template, without the hash
/// label, becomes the Deployment's, in a patch that carries the resourceVersion read — a
/// change made meanwhile is refused rather than overwritten. The controller then scales the
/// old ReplicaSet up again under the next revision number.
pub async fn rollback(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
    revision: i64,
) -> Result<(), AppError> {
    let ns = scope.namespace(namespace)?;
    if let (AppKind::StatefulSet, _, _) = app_object(&state.client, ns, name).await? {
        return stateful_revisions::rollback(state, scope, ns, name, revision).await;
    }
    let api = &deployments(state, scope, namespace)?;
    let cause = &format!("rolled back to revision {revision} by {}", scope.user());
    let read = || async {
        let (d, owned) = with_replica_sets(state, scope, namespace, name).await?;
        let generation = d.metadata.generation;
        Ok(((d, owned), generation))
    };
    let write = |(d, owned): (Deployment, Vec<ReplicaSet>)| async move {
        let target = numbered(name, revision, owned.iter().map(|rs| (revision_of(rs), rs)))?;
        let patch = rollback_patch(&d, target, cause)?;
        Ok(api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await)
    };
    let Some(_) = retry_on_conflict(read().await?, read, write).await? else {
        return Err(AppError::Conflict(text!(
            "'{name}' changed after its revisions were read, so nothing was rolled back; look at them again and retry",
            "读取版本后“{name}”又被修改了,因此没有回滚;请重新查看版本后再试"
        )));
    };
    tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %namespace, app = %name, revision, "rolled back");
    Ok(())
}

/// The revision numbered `revision` among an app's `(number, revision)` pairs; refused, naming
/// the numbers there are, when there is none.
fn numbered<T>(
    name: &str,
    revision: i64,
    revisions: impl IntoIterator<Item = (i64, T)>,
) -> Result<T, AppError> {
    let mut known = Vec::new();
    for (number, r) in revisions {
        if number == revision {
            return Ok(r);
        }
        known.push(number);
    }
    known.sort_unstable();
    let known = known
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Err(AppError::NotFound(text!(
        "'{name}' has no revision {revision} (its revisions: {known})",
        "“{name}”没有版本 {revision}(现有版本:{known})"
    )))
}

/// Refuses to roll `name` back to revision `revision`'s pod template `wanted` when it has
/// none or it is `current`, what the app runs now.
fn check_rollback(
    name: &str,
    revision: i64,
    wanted: &Value,
    current: &Value,
) -> Result<(), AppError> {
    if wanted.is_null() {
        return Err(AppError::Invalid(text!(
            "revision {revision} of '{name}' has no pod template to roll back to",
            "“{name}”的版本 {revision} 没有可回滚的 Pod 模板"
        )));
    }
    if wanted == current {
        return Err(AppError::Invalid(text!(
            "revision {revision} is what '{name}' runs now: nothing to roll back",
            "“{name}”当前运行的就是版本 {revision}:无需回滚"
        )));
    }
    Ok(())
}

/// The merge patch that gives `d` the pod template of `target` (one of its ReplicaSets),
/// recording `cause`. It carries the resourceVersion `d` was read at, so the API server
/// refuses it (409) when the app changed since. Refused here when `target` is what `d` runs.
pub fn rollback_patch(d: &Deployment, target: &ReplicaSet, cause: &str) -> Result<Value, AppError> {
    let current = template_without_hash(d.spec.as_ref().map(|s| &s.template));
    let wanted = template_without_hash(target.spec.as_ref().and_then(|s| s.template.as_ref()));
    check_rollback(&d.name_any(), revision_of(target), &wanted, &current)?;
    Ok(json!({
        "metadata": {"resourceVersion": d.resource_version(), "annotations": {CHANGE_CAUSE: cause}},
        "spec": {"template": merge_patch_to(&current, &wanted)},
    }))
}

fn api_resource(kind: &str) -> Result<ApiResource, AppError> {
    let gvk = match kind {
        "Deployment" => GroupVersionKind::gvk("apps", "v1", "Deployment"),
        "StatefulSet" => GroupVersionKind::gvk("apps", "v1", "StatefulSet"),
        "Service" => GroupVersionKind::gvk("", "v1", "Service"),
        "Pod" => GroupVersionKind::gvk("", "v1", "Pod"),
        "ConfigMap" => GroupVersionKind::gvk("", "v1", "ConfigMap"),
        other => {
            let kinds = EDITABLE_KINDS.join(", ");
            return Err(AppError::Invalid(text!(
                "kind '{other}' cannot be edited here (one of: {kinds})",
                "此处不能编辑类型“{other}”(可编辑:{kinds})"
            )));
        }
    };
    let plural = format!("{}s", kind.to_lowercase());
    Ok(ApiResource::from_gvk_with_plural(&gvk, &plural))
}

fn dynamic(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    kind: &str,
) -> Result<Api<DynamicObject>, AppError> {
    let ar = api_resource(kind)?;
    Ok(Api::namespaced_with(
        state.client.clone(),
        scope.namespace(namespace)?,
        &ar,
    ))
}

fn to_yaml(mut obj: DynamicObject) -> Result<String, AppError> {
    obj.metadata.managed_fields = None;
    serde_yaml::to_string(&obj)
        .map_err(|e| AppError::internal(text!("writing the YAML", "生成 YAML 失败"), e))
}

pub async fn get_yaml(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<String, AppError> {
    let api = dynamic(state, scope, namespace, kind)?;
    to_yaml(api.get(name).await?)
}

pub async fn put_yaml(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    kind: &str,
    name: &str,
    yaml: &str,
) -> Result<String, AppError> {
    let api = dynamic(state, scope, namespace, kind)?;
    let obj: DynamicObject = serde_yaml::from_str(yaml)
        .map_err(|e| AppError::Invalid(text!("YAML: {e}", "YAML:{e}")))?;
    let said_kind = obj
        .types
        .as_ref()
        .map(|t| t.kind.as_str())
        .unwrap_or_default();
    if said_kind != kind {
        return Err(AppError::Invalid(text!(
            "kind must stay '{kind}' (the YAML says '{said_kind}')",
            "kind 必须保持为“{kind}”(YAML 中是“{said_kind}”)"
        )));
    }
    if obj.metadata.name.as_deref() != Some(name) {
        return Err(AppError::Invalid(text!(
            "metadata.name must stay '{name}'",
            "metadata.name 必须保持为“{name}”"
        )));
    }
    if obj
        .metadata
        .namespace
        .as_deref()
        .is_some_and(|ns| ns != namespace)
    {
        return Err(AppError::Invalid(text!(
            "metadata.namespace must stay '{namespace}'",
            "metadata.namespace 必须保持为“{namespace}”"
        )));
    }
    let mut obj = obj;
    obj.metadata.namespace = Some(namespace.to_string());
    let level = security::level_of(&state.cache, scope.tenant());
    let json = serde_json::to_value(&obj)
        .map_err(|e| AppError::internal(text!("reading the YAML", "读取 YAML 失败"), e))?;
    AppError::invalid_if_any(security::policy_errors(kind, &json, level))?;
    let labels: BTreeMap<String, String> = obj.metadata.labels.clone().unwrap_or_default();
    tracing::info!(user = scope.user(), ns = %namespace, %kind, %name, labels = labels.len(), "replacing from YAML");
    let pp = PostParams {
        field_manager: Some("wharf".into()),
        ..PostParams::default()
    };
    // NB: the YAML carries the resourceVersion the editor started from; see `conflict` for
    // why a 409 on it is tried again while the generation is the YAML's.
    let first = (obj.clone(), obj.metadata.generation);
    let read = || async {
        let current = api.get(name).await?;
        let mut edit = obj.clone();
        edit.metadata.resource_version = current.metadata.resource_version;
        Ok((edit, current.metadata.generation))
    };
    let write = |edit: DynamicObject| {
        let (api, pp) = (&api, &pp);
        async move { Ok(api.replace(name, pp, &edit).await) }
    };
    match retry_on_conflict(first, read, write).await? {
        Some(saved) => to_yaml(saved),
        None => Err(AppError::Conflict(text!(
            "someone changed this {kind} since you opened it: reload it to see their change, then edit again",
            "你打开这个 {kind} 之后有人修改了它:请重新加载查看其修改,然后再编辑"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_form_becomes_a_deployment_with_limits_env_and_port() {
        let form = DeployForm {
            namespace: "alpha".into(),
            name: "shop".into(),
            image: "nginx:1.25".into(),
            replicas: 2,
            env: vec![("MODE".into(), "prod".into())],
            ..DeployForm::default()
        };
        let d = deployment_of(&form, crds::PodSecurity::Baseline).unwrap();
        let spec = d.spec.unwrap();
        assert_eq!(spec.replicas, Some(2));
        let c = &spec.template.spec.unwrap().containers[0];
        assert_eq!(c.image.as_deref(), Some("nginx:1.25"));
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8080);
        assert_eq!(c.env.as_ref().unwrap()[0].name, "MODE");
        let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["memory"].0, "512Mi");
    }

    #[test]
    fn a_pod_page_is_the_right_slice_of_the_sorted_list() {
        let (reader, mut writer) = kube::runtime::reflector::store::<Pod>();
        let mut names: Vec<String> = (0..57).map(|i| format!("p-{:03}", (i * 37) % 57)).collect();
        for n in &names {
            let pod: Pod = serde_json::from_value(
                json!({"metadata": {"name": n, "namespace": "a", "labels": {"app": "x"}}}),
            )
            .unwrap();
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(pod));
        }
        names.sort();
        let scope = TenantScope::for_tests("t", &["a"]);
        let cache = Cache::for_tests(reader);
        for (offset, limit) in [(0, 10), (10, 10), (50, 10), (56, 5), (60, 5)] {
            let page = pods(
                &cache,
                &scope,
                &PodQuery {
                    offset,
                    limit,
                    ..Default::default()
                },
            )
            .unwrap();
            assert_eq!(page.total, 57);
            let got: Vec<&str> = page.rows.iter().map(|r| r.name.as_str()).collect();
            let want: Vec<&str> = names
                .iter()
                .skip(offset)
                .take(limit)
                .map(String::as_str)
                .collect();
            assert_eq!(got, want, "offset {offset}");
        }
        let filtered = pods(
            &cache,
            &scope,
            &PodQuery {
                filter: "p-05".into(),
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(filtered.total, 7);
        assert!(pods(
            &cache,
            &scope,
            &PodQuery {
                namespace: Some("b".into()),
                limit: 1,
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn the_rollback_patch_removes_what_the_old_template_lacks() {
        let current = json!({"metadata": {"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]}]}});
        let old = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}});
        let patch = merge_patch_to(&current, &old);
        assert_eq!(patch["metadata"]["annotations"], Value::Null);
        assert_eq!(
            patch["spec"]["containers"], old["spec"]["containers"],
            "lists are replaced whole"
        );
        assert_eq!(patch["metadata"]["labels"], json!({"app": "web"}));
    }

    #[test]
    fn pod_status_prefers_the_waiting_reason_like_kubectl() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "c", "ready": false, "restartCount": 4, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}
            }]}
        }))
        .unwrap();
        assert_eq!(pod_status(&pod), "CrashLoopBackOff");
        assert_eq!(pod_row(&pod).restarts, 4);
    }
}
