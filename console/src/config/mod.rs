//! Config per tenant: the ConfigMaps and Secrets of a [`TenantScope`]'s namespaces, read
//! through `kube::Api` when the page asks (the console caches no Secret), changed with the
//! version the editor opened (a change made meanwhile is a conflict, never overwritten), each
//! change recorded in the object's [`history`]. "Apply" rolls the apps whose pod template
//! reads the object, as a restart does, so their pods start with the new content.
//!
//! Secret values leave the server only through [`reveal`] (developers, audited); every other
//! answer carries a Secret's keys and sizes only.

pub mod endpoints;
pub mod history;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use wharf_api::config::{
    check_form, too_big, ConfigDetail, ConfigEntry, ConfigForm, ConfigKind, ConfigRow, ConfigUse,
    Editable, MAX_BYTES,
};
use wharf_api::error::AppError;
use wharf_api::{text, Text};

use self::history::{Record, HISTORY_OF};
use crate::auth::TenantScope;
use crate::state::AppState;
use crate::workloads::{to_chrono, CHANGE_CAUSE, MANAGED_BY};

/// The pod-template annotation "apply" sets: the object and its version, so each apply
/// changes the template and the app rolls.
pub const APPLIED: &str = "wharf.dev/config-applied";

/// An object's data as the editor sees it: text values, and which are binary.
struct Data {
    /// Every key; a binary value's bytes are kept as they are.
    values: BTreeMap<String, Vec<u8>>,
}

impl Data {
    fn of_config_map(cm: &ConfigMap) -> Data {
        let mut values: BTreeMap<String, Vec<u8>> = cm
            .data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        for (k, v) in cm.binary_data.clone().unwrap_or_default() {
            values.insert(k, v.0);
        }
        Data { values }
    }

    fn of_secret(s: &Secret) -> Data {
        let mut values: BTreeMap<String, Vec<u8>> = s
            .data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        for (k, v) in s.string_data.clone().unwrap_or_default() {
            values.insert(k, v.into_bytes());
        }
        Data { values }
    }

    fn bytes(&self) -> usize {
        self.values.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// The text values (binary ones left out).
    fn text(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.clone()).ok()?)))
            .collect()
    }

    fn entries(&self, reveal: bool) -> Vec<ConfigEntry> {
        self.values
            .iter()
            .map(|(k, v)| {
                let text = std::str::from_utf8(v).ok();
                ConfigEntry {
                    key: k.clone(),
                    value: text.filter(|_| reveal).map(str::to_string),
                    bytes: v.len(),
                    binary: text.is_none(),
                }
            })
            .collect()
    }
}

fn config_maps(state: &AppState, ns: &str) -> Api<ConfigMap> {
    Api::namespaced(state.client.clone(), ns)
}

fn secrets(state: &AppState, ns: &str) -> Api<Secret> {
    Api::namespaced(state.client.clone(), ns)
}

/// When an object last changed: its newest `managedFields` write, else its creation.
fn changed_at(meta: &ObjectMeta) -> Option<DateTime<Utc>> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter_map(|f| f.time.as_ref().map(|t| to_chrono(&t.0)))
        .max()
        .or(meta.creation_timestamp.as_ref().map(|t| to_chrono(&t.0)))
}

/// A Secret's `type` (`Opaque` when unset, as the API server defaults it).
fn secret_type(s: &Secret) -> String {
    s.type_.clone().unwrap_or_else(|| "Opaque".into())
}

fn editable(kind: ConfigKind, meta: &ObjectMeta, secret_type: &str) -> Editable {
    let labels = meta.labels.clone().unwrap_or_default();
    let managed = labels.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
        || labels.contains_key(HISTORY_OF)
        || meta.name.as_deref() == Some("kube-root-ca.crt")
        || secret_type == "kubernetes.io/service-account-token";
    if managed {
        Editable::Managed
    } else if kind == ConfigKind::Secret && secret_type != "Opaque" {
        Editable::OtherType
    } else {
        Editable::Yes
    }
}

/// Every way a pod spec reads a ConfigMap or Secret, in the spec's order: the object and
/// how, as a sentence (a volume no container mounts says so). The one walk behind both the
/// config page's "used by" and the app page's config list, so the two always agree.
pub fn references(spec: &PodSpec) -> Vec<(ConfigKind, String, Text)> {
    let mut found = Vec::new();
    let containers = || {
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
    };
    for v in spec.volumes.iter().flatten() {
        let mut read = Vec::new();
        if let Some(c) = &v.config_map {
            read.push((ConfigKind::ConfigMap, c.name.clone()));
        }
        if let Some(n) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            read.push((ConfigKind::Secret, n));
        }
        for s in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(c) = &s.config_map {
                read.push((ConfigKind::ConfigMap, c.name.clone()));
            }
            if let Some(c) = &s.secret {
                read.push((ConfigKind::Secret, c.name.clone()));
            }
        }
        let paths: Vec<String> = containers()
            .flat_map(|c| c.volume_mounts.iter().flatten())
            .filter(|m| m.name == v.name)
            .map(|m| match &m.sub_path {
                Some(sub) if !sub.is_empty() => format!("{} ({sub})", m.mount_path),
                _ => m.mount_path.clone(),
            })
            .collect();
        for (kind, name) in read {
            let volume = &v.name;
            if paths.is_empty() {
                found.push((
                    kind,
                    name.clone(),
                    text!(
                        "volume {volume}, mounted by no container",
                        "卷 {volume},未被任何容器挂载"
                    ),
                ));
            }
            for path in &paths {
                found.push((
                    kind,
                    name.clone(),
                    text!("files at {path}", "以文件挂载于 {path}"),
                ));
            }
        }
    }
    for c in containers() {
        for e in c.env.iter().flatten() {
            let Some(from) = &e.value_from else { continue };
            let var = &e.name;
            if let Some(r) = &from.config_map_key_ref {
                found.push((
                    ConfigKind::ConfigMap,
                    r.name.clone(),
                    text!("env {var}", "环境变量 {var}"),
                ));
            }
            if let Some(r) = &from.secret_key_ref {
                found.push((
                    ConfigKind::Secret,
                    r.name.clone(),
                    text!("env {var}", "环境变量 {var}"),
                ));
            }
        }
        for f in c.env_from.iter().flatten() {
            let every = || text!("every key as env", "全部键作为环境变量");
            if let Some(r) = &f.config_map_ref {
                found.push((ConfigKind::ConfigMap, r.name.clone(), every()));
            }
            if let Some(r) = &f.secret_ref {
                found.push((ConfigKind::Secret, r.name.clone(), every()));
            }
        }
    }
    for s in spec.image_pull_secrets.iter().flatten() {
        found.push((
            ConfigKind::Secret,
            s.name.clone(),
            text!("image pull secret", "镜像拉取凭据"),
        ));
    }
    found
}

/// How a pod spec reads `kind`/`name`, as sentences; empty when it does not.
pub fn uses(spec: &PodSpec, kind: ConfigKind, name: &str) -> Vec<Text> {
    references(spec)
        .into_iter()
        .filter(|(k, n, _)| *k == kind && n == name)
        .map(|(_, _, how)| how)
        .collect()
}

/// An app of a namespace: its kind, name and pod spec.
struct App {
    kind: &'static str,
    name: String,
    spec: PodSpec,
}

/// The namespace's Deployments and StatefulSets (none where the cluster serves none), read
/// afresh: an app just deployed counts.
async fn apps(state: &AppState, ns: &str) -> Result<Vec<App>, AppError> {
    let deployments: Api<Deployment> = Api::namespaced(state.client.clone(), ns);
    let mut apps: Vec<App> = deployments
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|d| {
            Some(App {
                kind: "Deployment",
                name: d.name_any(),
                spec: d.spec?.template.spec?,
            })
        })
        .collect();
    let sts: Api<StatefulSet> = Api::namespaced(state.client.clone(), ns);
    match sts.list(&ListParams::default()).await {
        Ok(list) => apps.extend(list.items.into_iter().filter_map(|s| {
            Some(App {
                kind: "StatefulSet",
                name: s.name_any(),
                spec: s.spec?.template.spec?,
            })
        })),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(apps)
}

fn users(apps: &[App], kind: ConfigKind, name: &str) -> Vec<String> {
    apps.iter()
        .filter(|a| !uses(&a.spec, kind, name).is_empty())
        .map(|a| a.name.clone())
        .collect()
}

/// Every ConfigMap and Secret of the tenant (history objects left out), namespace by name.
pub async fn list(state: &AppState, scope: &TenantScope) -> Result<Vec<ConfigRow>, AppError> {
    let mut rows = Vec::new();
    for ns in scope.namespaces() {
        let apps = apps(state, ns).await?;
        for cm in config_maps(state, ns).list(&ListParams::default()).await? {
            if cm.labels().contains_key(HISTORY_OF) {
                continue;
            }
            rows.push(config_map_row(ns, &cm, &apps));
        }
        for s in secrets(state, ns).list(&ListParams::default()).await? {
            rows.push(secret_row(ns, &s, &apps));
        }
    }
    Ok(rows)
}

fn config_map_row(ns: &str, cm: &ConfigMap, apps: &[App]) -> ConfigRow {
    let data = Data::of_config_map(cm);
    let name = cm.name_any();
    ConfigRow {
        namespace: ns.to_string(),
        used_by: users(apps, ConfigKind::ConfigMap, &name),
        name,
        kind: ConfigKind::ConfigMap,
        secret_type: String::new(),
        keys: data.values.keys().cloned().collect(),
        bytes: data.bytes(),
        editable: editable(ConfigKind::ConfigMap, &cm.metadata, ""),
        changed: changed_at(&cm.metadata),
    }
}

fn secret_row(ns: &str, s: &Secret, apps: &[App]) -> ConfigRow {
    let data = Data::of_secret(s);
    let name = s.name_any();
    let secret_type = secret_type(s);
    ConfigRow {
        namespace: ns.to_string(),
        used_by: users(apps, ConfigKind::Secret, &name),
        name,
        kind: ConfigKind::Secret,
        keys: data.values.keys().cloned().collect(),
        bytes: data.bytes(),
        editable: editable(ConfigKind::Secret, &s.metadata, &secret_type),
        secret_type,
        changed: changed_at(&s.metadata),
    }
}

fn not_found(kind: ConfigKind, ns: &str, name: &str) -> AppError {
    let k = kind.as_str();
    AppError::NotFound(text!("{k} {ns}/{name}", "{k} {ns}/{name}"))
}

/// The object, its data (a Secret's as bytes) and version.
enum Object {
    ConfigMap(ConfigMap),
    Secret(Secret),
}

async fn get(state: &AppState, ns: &str, kind: ConfigKind, name: &str) -> Result<Object, AppError> {
    let found = match kind {
        ConfigKind::ConfigMap => config_maps(state, ns)
            .get_opt(name)
            .await?
            .filter(|cm| !cm.labels().contains_key(HISTORY_OF))
            .map(Object::ConfigMap),
        ConfigKind::Secret => secrets(state, ns).get_opt(name).await?.map(Object::Secret),
    };
    found.ok_or_else(|| not_found(kind, ns, name))
}

impl Object {
    fn data(&self) -> Data {
        match self {
            Object::ConfigMap(cm) => Data::of_config_map(cm),
            Object::Secret(s) => Data::of_secret(s),
        }
    }
    fn meta(&self) -> &ObjectMeta {
        match self {
            Object::ConfigMap(cm) => &cm.metadata,
            Object::Secret(s) => &s.metadata,
        }
    }
    fn editable(&self) -> Editable {
        match self {
            Object::ConfigMap(cm) => editable(ConfigKind::ConfigMap, &cm.metadata, ""),
            Object::Secret(s) => editable(ConfigKind::Secret, &s.metadata, &secret_type(s)),
        }
    }
    fn found(&self) -> history::Found {
        history::Found {
            resource_version: self.meta().resource_version.clone().unwrap_or_default(),
            changed: changed_at(self.meta()),
            data: match self {
                Object::ConfigMap(_) => Some(self.data().text()),
                Object::Secret(_) => None,
            },
        }
    }
    fn row(&self, ns: &str, apps: &[App]) -> ConfigRow {
        match self {
            Object::ConfigMap(cm) => config_map_row(ns, cm, apps),
            Object::Secret(s) => secret_row(ns, s, apps),
        }
    }
}

/// One object for the editor: a Secret's values are left out.
pub async fn detail(
    state: &AppState,
    scope: &TenantScope,
    ns: &str,
    kind: ConfigKind,
    name: &str,
) -> Result<ConfigDetail, AppError> {
    let ns = scope.namespace(ns)?;
    let object = get(state, ns, kind, name).await?;
    let apps = apps(state, ns).await?;
    let data = object.data();
    let version = object.meta().resource_version.clone().unwrap_or_default();
    let records = history::read(&config_maps(state, ns), kind, name).await?;
    let current = match kind {
        ConfigKind::ConfigMap => data.text(),
        ConfigKind::Secret => BTreeMap::new(),
    };
    let row = object.row(ns, &apps);
    Ok(ConfigDetail {
        history: history::entries(&records, &version, &current, row.changed, kind),
        entries: data.entries(kind == ConfigKind::ConfigMap),
        resource_version: version,
        row,
    })
}

/// A Secret's values (developers; the call is audited).
pub async fn reveal(
    state: &AppState,
    scope: &TenantScope,
    ns: &str,
    name: &str,
) -> Result<Vec<ConfigEntry>, AppError> {
    let ns = scope.namespace(ns)?;
    Ok(get(state, ns, ConfigKind::Secret, name)
        .await?
        .data()
        .entries(true))
}

/// Creates the object or changes it (from the version the editor opened), and records it.
pub async fn save(
    state: &AppState,
    scope: &TenantScope,
    form: &ConfigForm,
) -> Result<String, AppError> {
    let ns = scope.namespace(&form.namespace)?;
    AppError::invalid_if_any(check_form(form))?;
    let name = form.name.as_str();
    let existing = match kind_get_opt(state, ns, form.kind, name).await? {
        Some(o) => Some(o),
        None if form.resource_version.is_some() => return Err(not_found(form.kind, ns, name)),
        None => None,
    };
    let old = existing.as_ref().map(Object::data);
    let existing_found = existing.as_ref().map(Object::found);
    if let Some(o) = &existing {
        let Some(opened) = &form.resource_version else {
            let k = form.kind.as_str();
            return Err(AppError::Invalid(text!(
                "{k} '{name}' already exists in {ns}: open it to change it",
                "{k}“{name}”已存在于 {ns}:请打开它再修改"
            )));
        };
        if o.meta().resource_version.as_ref() != Some(opened) {
            return Err(AppError::Conflict(text!(
                "{name} was changed after you opened it; open it again to see the change",
                "{name} 在您打开后已被修改;请重新打开查看"
            )));
        }
        if o.editable() != Editable::Yes {
            return Err(AppError::Forbidden(text!(
                "{name} is kept by Kubernetes, by Wharf or by another page, not by the config editor",
                "{name} 由 Kubernetes、Wharf 或其他页面维护,不能在配置编辑器中修改"
            )));
        }
    }
    // the new data: a kept value (None) is the current one
    let mut values: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (key, value) in &form.entries {
        let bytes = match value {
            Some(v) => v.clone().into_bytes(),
            None => old
                .as_ref()
                .and_then(|d| d.values.get(key).cloned())
                .ok_or_else(|| {
                    AppError::Invalid(text!(
                        "key '{key}': a value is needed (it has none to keep)",
                        "键“{key}”:需要填写值(没有可保留的旧值)"
                    ))
                })?,
        };
        values.insert(key.clone(), bytes);
    }
    let new = Data { values };
    if new.bytes() > MAX_BYTES {
        return Err(AppError::Invalid(too_big(new.bytes())));
    }
    let keys = match &old {
        Some(old) => history::key_changes(&old.values, &new.values),
        None => new
            .values
            .keys()
            .map(|k| (k.clone(), "added".to_string()))
            .collect(),
    };
    let meta = |version: Option<String>| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        resource_version: version,
        ..ObjectMeta::default()
    };
    let pp = PostParams::default();
    let written = match (form.kind, existing) {
        (ConfigKind::ConfigMap, existing) => {
            let mut cm = match existing {
                Some(Object::ConfigMap(cm)) => cm,
                _ => ConfigMap {
                    metadata: meta(None),
                    ..ConfigMap::default()
                },
            };
            let (mut text, mut binary) = (BTreeMap::new(), BTreeMap::new());
            for (k, v) in &new.values {
                match String::from_utf8(v.clone()) {
                    Ok(s) => {
                        text.insert(k.clone(), s);
                    }
                    Err(e) => {
                        binary.insert(k.clone(), ByteString(e.into_bytes()));
                    }
                }
            }
            cm.data = (!text.is_empty()).then_some(text);
            cm.binary_data = (!binary.is_empty()).then_some(binary);
            let api = config_maps(state, ns);
            let cm = if cm.metadata.resource_version.is_some() {
                api.replace(name, &pp, &cm).await?
            } else {
                api.create(&pp, &cm).await?
            };
            cm.resource_version().unwrap_or_default()
        }
        (ConfigKind::Secret, existing) => {
            let mut s = match existing {
                Some(Object::Secret(s)) => s,
                _ => Secret {
                    metadata: meta(None),
                    type_: Some("Opaque".into()),
                    ..Secret::default()
                },
            };
            s.string_data = None;
            s.data = Some(
                new.values
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                    .collect(),
            );
            let api = secrets(state, ns);
            let s = if s.metadata.resource_version.is_some() {
                api.replace(name, &pp, &s).await?
            } else {
                api.create(&pp, &s).await?
            };
            s.resource_version().unwrap_or_default()
        }
    };
    let record = Record {
        at: Utc::now(),
        by: scope.user().to_string(),
        action: if old.is_some() { "changed" } else { "created" }.into(),
        resource_version: written.clone(),
        keys,
        data: (form.kind == ConfigKind::ConfigMap).then(|| new.text()),
        apps: Vec::new(),
    };
    let found = existing_found;
    history::append(
        &config_maps(state, ns),
        form.kind,
        name,
        found.as_ref(),
        record,
    )
    .await?;
    tracing::info!(user = scope.user(), tenant = scope.tenant(), %ns, kind = form.kind.as_str(), %name, "config saved");
    Ok(written)
}

async fn kind_get_opt(
    state: &AppState,
    ns: &str,
    kind: ConfigKind,
    name: &str,
) -> Result<Option<Object>, AppError> {
    match get(state, ns, kind, name).await {
        Ok(o) => Ok(Some(o)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes the object and its history (`confirm`: its name, typed); refused while an app
/// reads it.
pub async fn delete(
    state: &AppState,
    scope: &TenantScope,
    ns: &str,
    kind: ConfigKind,
    name: &str,
    confirm: &str,
) -> Result<(), AppError> {
    let ns = scope.namespace(ns)?;
    if confirm != name {
        return Err(AppError::Invalid(text!(
            "type the name '{name}' to delete it",
            "请输入名称“{name}”以确认删除"
        )));
    }
    let object = get(state, ns, kind, name).await?;
    if object.editable() == Editable::Managed {
        return Err(AppError::Forbidden(text!(
            "{name} is kept by Kubernetes or by Wharf",
            "{name} 由 Kubernetes 或 Wharf 维护"
        )));
    }
    let used = users(&apps(state, ns).await?, kind, name);
    if !used.is_empty() {
        let list = used.join(", ");
        return Err(AppError::Invalid(text!(
            "{name} is used by {list}: take it out of those apps first",
            "{name} 正被 {list} 使用:请先从这些应用中移除"
        )));
    }
    let dp = DeleteParams::default();
    match kind {
        ConfigKind::ConfigMap => drop(config_maps(state, ns).delete(name, &dp).await?),
        ConfigKind::Secret => drop(secrets(state, ns).delete(name, &dp).await?),
    }
    history::forget(&config_maps(state, ns), kind, name).await?;
    Ok(())
}

/// Rolls every app that reads the object so its pods start with the current content; the
/// apps rolled, by name.
pub async fn apply(
    state: &AppState,
    scope: &TenantScope,
    ns: &str,
    kind: ConfigKind,
    name: &str,
) -> Result<Vec<String>, AppError> {
    let ns = scope.namespace(ns)?;
    let object = get(state, ns, kind, name).await?;
    let version = object.meta().resource_version.clone().unwrap_or_default();
    let apps = apps(state, ns).await?;
    let using: Vec<&App> = apps
        .iter()
        .filter(|a| !uses(&a.spec, kind, name).is_empty())
        .collect();
    if using.is_empty() {
        return Err(AppError::Invalid(text!(
            "no app uses {name}: nothing to apply it to",
            "没有应用使用 {name}:无需应用"
        )));
    }
    let k = kind.as_str();
    let patch = json!({
        "metadata": {"annotations": {CHANGE_CAUSE: format!("{k} {name} applied by {}", scope.user())}},
        "spec": {"template": {"metadata": {"annotations": {
            APPLIED: format!("{k}/{name}@{version}"),
            "kubectl.kubernetes.io/restartedAt": Utc::now().to_rfc3339(),
        }}}}
    });
    let pp = PatchParams::default();
    for app in &using {
        match app.kind {
            "StatefulSet" => {
                let api: Api<StatefulSet> = Api::namespaced(state.client.clone(), ns);
                api.patch(&app.name, &pp, &Patch::Strategic(&patch)).await?;
            }
            _ => {
                let api: Api<Deployment> = Api::namespaced(state.client.clone(), ns);
                api.patch(&app.name, &pp, &Patch::Strategic(&patch)).await?;
            }
        }
    }
    let rolled: Vec<String> = using.iter().map(|a| a.name.clone()).collect();
    let record = Record {
        at: Utc::now(),
        by: scope.user().to_string(),
        action: "applied".into(),
        resource_version: version,
        keys: Vec::new(),
        data: None,
        apps: rolled.clone(),
    };
    history::append(
        &config_maps(state, ns),
        kind,
        name,
        Some(&object.found()),
        record,
    )
    .await?;
    Ok(rolled)
}

/// The config objects an app's pods read, each with how and whether it changed after the
/// app's oldest running pod started.
pub async fn app_uses(
    state: &AppState,
    scope: &TenantScope,
    ns: &str,
    app: &str,
) -> Result<Vec<ConfigUse>, AppError> {
    let ns = scope.namespace(ns)?;
    let apps = apps(state, ns).await?;
    let Some(found) = apps.iter().find(|a| a.name == app) else {
        return Err(AppError::NotFound(text!(
            "app {ns}/{app}",
            "应用 {ns}/{app}"
        )));
    };
    let oldest_start = state
        .cache
        .pods
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
        .filter(|p| p.labels().get("app").map(String::as_str) == Some(app))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            p.status
                .as_ref()?
                .start_time
                .as_ref()
                .map(|t| to_chrono(&t.0))
        })
        .min();
    // each object once, in the order the spec first names it, with every way it is read
    let mut referenced: Vec<(ConfigKind, String, Vec<Text>)> = Vec::new();
    for (kind, name, how) in references(&found.spec) {
        match referenced
            .iter_mut()
            .find(|(k, n, _)| *k == kind && *n == name)
        {
            Some((_, _, all)) => all.push(how),
            None => referenced.push((kind, name, vec![how])),
        }
    }
    let mut out = Vec::new();
    for (kind, name, how) in referenced {
        let changed = match kind_get_opt(state, ns, kind, &name).await? {
            Some(o) => changed_at(o.meta()),
            None => None,
        };
        out.push(ConfigUse {
            how,
            changed_after_start: matches!((changed, oldest_start), (Some(c), Some(s)) if c > s),
            kind,
            name,
            changed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_way_a_pod_reads_config_is_found() {
        let s = spec(json!({
            "containers": [{"name": "app", "image": "x",
                "env": [{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
                        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                "envFrom": [{"configMapRef": {"name": "settings"}}],
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/config"},
                                 {"name": "both", "mountPath": "/etc/all"},
                                 {"name": "one", "mountPath": "/app/app.properties", "subPath": "app.properties"}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "settings"}},
                        {"name": "one", "configMap": {"name": "orders"}},
                        {"name": "both", "projected": {"sources": [{"secret": {"name": "db"}}]}},
                        {"name": "spare", "secret": {"secretName": "tls"}}],
            "imagePullSecrets": [{"name": "registry"}]
        }));
        let en = |v: Vec<Text>| v.into_iter().map(|t| t.en).collect::<Vec<_>>();
        assert_eq!(
            en(uses(&s, ConfigKind::ConfigMap, "settings")),
            ["files at /etc/config", "env LEVEL", "every key as env"]
        );
        assert_eq!(
            en(uses(&s, ConfigKind::ConfigMap, "orders")),
            ["files at /app/app.properties (app.properties)"]
        );
        assert_eq!(
            en(uses(&s, ConfigKind::Secret, "db")),
            ["files at /etc/all", "env PASS"]
        );
        assert_eq!(
            en(uses(&s, ConfigKind::Secret, "registry")),
            ["image pull secret"]
        );
        assert_eq!(
            en(uses(&s, ConfigKind::Secret, "tls")),
            ["volume spare, mounted by no container"]
        );
        assert!(uses(&s, ConfigKind::Secret, "settings").is_empty());
        let objects: Vec<_> = references(&s)
            .into_iter()
            .map(|(k, n, _)| format!("{k:?}/{n}"))
            .collect();
        assert_eq!(
            objects,
            [
                "ConfigMap/settings",
                "ConfigMap/orders",
                "Secret/db",
                "Secret/tls",
                "ConfigMap/settings",
                "Secret/db",
                "ConfigMap/settings",
                "Secret/registry"
            ],
            "every reference, in the spec's order"
        );
    }

    #[test]
    fn kubernetes_and_wharf_objects_are_not_editable() {
        let meta = |name: &str, labels: serde_json::Value| -> ObjectMeta {
            serde_json::from_value(json!({"name": name, "labels": labels})).unwrap()
        };
        assert_eq!(
            editable(
                ConfigKind::ConfigMap,
                &meta("kube-root-ca.crt", json!({})),
                ""
            ),
            Editable::Managed
        );
        assert_eq!(
            editable(
                ConfigKind::Secret,
                &meta("hook", json!({MANAGED_BY.0: MANAGED_BY.1})),
                "Opaque"
            ),
            Editable::Managed
        );
        assert_eq!(
            editable(
                ConfigKind::Secret,
                &meta("tls", json!({})),
                "kubernetes.io/tls"
            ),
            Editable::OtherType
        );
        assert_eq!(
            editable(ConfigKind::Secret, &meta("db", json!({})), "Opaque"),
            Editable::Yes
        );
        assert_eq!(
            editable(ConfigKind::ConfigMap, &meta("settings", json!({})), ""),
            Editable::Yes
        );
    }

    #[test]
    fn secret_values_are_left_out_unless_revealed() {
        let data = Data {
            values: BTreeMap::from([
                ("password".to_string(), b"s3cret".to_vec()),
                ("key.bin".to_string(), vec![0xff, 0x00]),
            ]),
        };
        let hidden = data.entries(false);
        assert!(hidden.iter().all(|e| e.value.is_none()));
        assert_eq!(hidden[1].bytes, 6);
        let shown = data.entries(true);
        assert_eq!(shown[1].value.as_deref(), Some("s3cret"));
        assert!(shown[0].binary && shown[0].value.is_none());
    }
}
