//! Alert rules and receivers as the Prometheus Operator's resources (`--alert-rules operator`),
//! what a cluster running kube-prometheus-stack loads; the file mode (`super::rules`,
//! `super::alertmanager`) stays for the demo's own Prometheus and Alertmanager.
//!
//! * **Thresholds**: one `PrometheusRule` (`monitoring.coreos.com/v1`) per app, named
//!   `wharf-<app>` in the app's namespace, written by server-side apply (field manager
//!   `wharf`). Its `spec` is [`super::rules::rule_groups`], the very document the file mode
//!   writes as a rule file (the operator writes the spec verbatim as a rule file). Clearing
//!   every threshold deletes it. With a Prometheus URL, `/api/v1/rules` is polled until the
//!   group shows the new thresholds; if it does not within the deadline, the object is put
//!   back as it was (or deleted if there was none) and the error says to check the operator's
//!   `ruleSelector`/`ruleNamespaceSelector`. Without a Prometheus URL the object is saved
//!   unconfirmed (logged as such): nothing in the cluster can say whether a Prometheus loads it.
//! * **Receivers**: in each namespace of each tenant, an `AlertmanagerConfig`
//!   (`monitoring.coreos.com/v1alpha1`) `wharf-receivers`: the console's own webhook (so every
//!   alert reaches the alert book) and the tenant's webhooks and e-mail addresses, routed like
//!   the file mode's; the operator confines each to alerts of its own namespace. Credentials
//!   are in a Secret `wharf-alerting` beside it: the webhook token *scoped to that namespace*
//!   ([`super::Token::scoped`]: whoever can read the Secret can post alerts of that namespace
//!   only) and the SMTP password. The same `converge_alertmanager` path creates, updates and
//!   deletes them (a namespace that left its tenant loses them). No confirmation: the operator
//!   merges them into Alertmanager's configuration on its own schedule.
//!
//! Every object carries `app.kubernetes.io/managed-by: wharf` and the labels of
//! `--rule-labels` (kube-prometheus-stack's selectors choose on `release`). Wharf never
//! installs the operator's CRDs (the operator owns them); when they are not served, every
//! use says so in both languages.

use super::alertmanager::{receiver_name, TenantRoute, WHARF_RECEIVER};
use super::MonitoringSettings;
use crate::state::AppState;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use wharf_api::error::AppError;
use wharf_api::monitoring::receivers::ReceiverKind;
use wharf_api::monitoring::{AlertThresholds, Thresholds};
use wharf_api::text;

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "wharf";
/// On every object Wharf writes here.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "wharf");
/// The app a `PrometheusRule` holds the thresholds of.
pub const APP_LABEL: &str = "wharf.io/app";
/// The `AlertmanagerConfig` of each tenant namespace.
pub const RECEIVERS: &str = "wharf-receivers";
/// The Secret beside it: `webhook-token` and, with SMTP auth, `smtp-password`.
pub const SECRET: &str = "wharf-alerting";
/// A digest of what was rendered into an `AlertmanagerConfig` and its Secret: the server
/// defaults fields of the spec, so the spec itself does not compare.
const RENDERED: &str = "wharf.io/rendered";

/// Settings of the operator mode.
#[derive(Clone, Debug)]
pub struct OperatorSettings {
    /// Labels on every object (`release=kube-prometheus-stack`: the Helm chart's
    /// `ruleSelector` and `alertmanagerConfigSelector` choose on it).
    pub labels: BTreeMap<String, String>,
    /// How long Prometheus may take to show a saved `PrometheusRule` (the operator renders it
    /// into a ConfigMap, the kubelet refreshes the mounted file, the config reloader reloads).
    pub confirm_within: Duration,
}

impl Default for OperatorSettings {
    fn default() -> Self {
        OperatorSettings {
            labels: BTreeMap::new(),
            confirm_within: Duration::from_secs(120),
        }
    }
}

pub fn prometheus_rule() -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "PrometheusRule".into(),
        plural: "prometheusrules".into(),
    }
}

pub fn alertmanager_config() -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1alpha1".into(),
        api_version: "monitoring.coreos.com/v1alpha1".into(),
        kind: "AlertmanagerConfig".into(),
        plural: "alertmanagerconfigs".into(),
    }
}

/// The `PrometheusRule` of an app.
pub fn rule_name(app: &str) -> String {
    format!("wharf-{app}")
}

fn not_served(r: &ApiResource) -> AppError {
    let (kind, api_version) = (&r.kind, &r.api_version);
    AppError::Unavailable(text!(
        "this console keeps alert rules and receivers as Prometheus Operator resources (--alert-rules operator), but the cluster does not serve {kind} ({api_version}): install the Prometheus Operator (e.g. kube-prometheus-stack), or run the console with --alert-rules files",
        "本控制台以 Prometheus Operator 资源保存告警规则和接收者(--alert-rules operator),但集群未提供 {kind}({api_version}):请安装 Prometheus Operator(例如 kube-prometheus-stack),或以 --alert-rules files 运行控制台"
    ))
}

/// Fails with [`not_served`] unless the cluster serves `r`.
pub async fn require(client: &kube::Client, r: &ApiResource) -> Result<(), AppError> {
    if crate::discovery::serves(client, &r.api_version, &r.plural).await? {
        Ok(())
    } else {
        Err(not_served(r))
    }
}

fn is_404(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The labels of an object Wharf writes: the operator selectors' first, Wharf's own last (a
/// selector label cannot take `managed-by` away).
fn labels(o: &OperatorSettings, own: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut l = o.labels.clone();
    l.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    for (k, v) in own {
        l.insert((*k).into(), (*v).into());
    }
    l
}

/// The `PrometheusRule` of an app with `spec` (for server-side apply: only what Wharf owns).
fn rule_object(o: &OperatorSettings, namespace: &str, app: &str, spec: &Value) -> Value {
    let r = prometheus_rule();
    json!({
        "apiVersion": r.api_version, "kind": r.kind,
        "metadata": {"name": rule_name(app), "namespace": namespace, "labels": labels(o, &[(APP_LABEL, app)])},
        "spec": spec,
    })
}

/// The thresholds in an app's `PrometheusRule` (empty when it has none).
pub async fn read_thresholds(
    client: &kube::Client,
    namespace: &str,
    app: &str,
) -> Result<AlertThresholds, AppError> {
    let r = prometheus_rule();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &r);
    match api.get_opt(&rule_name(app)).await {
        Ok(Some(obj)) => Ok(super::rules::thresholds_in(&obj.data["spec"])),
        // NB: a kind nobody serves answers 404 too (a bare "404 page not found")
        Ok(None) => require(client, &r)
            .await
            .map(|_| AlertThresholds::default()),
        Err(e) if is_404(&e) => {
            require(client, &r).await?;
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Saves an app's thresholds as its `PrometheusRule` (none: deletes it) and, with a
/// Prometheus URL, waits until Prometheus shows them; else puts the previous object back.
/// Holds the console's `rules_lock` throughout.
pub async fn apply_thresholds(
    state: &AppState,
    o: &OperatorSettings,
    namespace: &str,
    app: &str,
    t: &Thresholds,
) -> Result<(), AppError> {
    let r = prometheus_rule();
    require(&state.client, &r).await?;
    let _one_at_a_time = state.monitoring.rules_lock.lock().await;
    let api: Api<DynamicObject> = Api::namespaced_with(state.client.clone(), namespace, &r);
    let name = rule_name(app);
    let previous = api.get_opt(&name).await?;
    let next = super::rules::rule_groups(namespace, app, t);
    let want_labels = labels(o, &[(APP_LABEL, app)]);
    let unchanged = match (&previous, &next) {
        (None, None) => true,
        (Some(p), Some(spec)) => {
            &p.data["spec"] == spec
                && want_labels
                    .iter()
                    .all(|(k, v)| p.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v))
        }
        _ => false,
    };
    if unchanged {
        return Ok(());
    }
    match &next {
        Some(spec) => {
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(rule_object(o, namespace, app, spec)),
            )
            .await?;
        }
        None => match api.delete(&name, &DeleteParams::default()).await {
            Err(e) if !is_404(&e) => return Err(e.into()),
            _ => {}
        },
    }
    let s = &state.settings.monitoring;
    let Some(url) = s.prometheus_url.as_deref().map(|u| u.trim_end_matches('/')) else {
        tracing::info!(
            namespace,
            app,
            "alert rules saved as a PrometheusRule, unconfirmed: no Prometheus URL to ask whether it loaded them"
        );
        return Ok(());
    };
    let within = o.confirm_within;
    let shown = super::rules::shows(&state.monitoring.http, url, namespace, app, t, within).await;
    let failure = match shown {
        Ok(true) => return Ok(()),
        Ok(false) => {
            let labels = labels_text(&want_labels);
            AppError::Unavailable(text!(
                "the alert rules of {namespace}/{app} were saved as PrometheusRule {namespace}/{name}, but Prometheus at {url} has not loaded them after {within:?}: check that the Prometheus Operator's ruleSelector and ruleNamespaceSelector select it (its labels: {labels}); the previous rules were put back",
                "{namespace}/{app} 的告警规则已保存为 PrometheusRule {namespace}/{name},但 {within:?} 后 Prometheus({url})仍未加载:请检查 Prometheus Operator 的 ruleSelector 和 ruleNamespaceSelector 是否选中它(其标签:{labels});已恢复原规则"
            ))
        }
        Err(e) => e,
    };
    tracing::warn!(namespace, app, error = %failure, "alert rules not loaded; putting the previous PrometheusRule back");
    if let Err(e) = restore(&api, &name, previous).await {
        tracing::error!(namespace, app, error = %e, "could not put the previous PrometheusRule back");
    }
    Err(failure)
}

/// Puts an object back as it was (`None`: there was none).
async fn restore(
    api: &Api<DynamicObject>,
    name: &str,
    previous: Option<DynamicObject>,
) -> Result<(), kube::Error> {
    let Some(mut p) = previous else {
        return match api.delete(name, &DeleteParams::default()).await {
            Err(e) if !is_404(&e) => Err(e),
            _ => Ok(()),
        };
    };
    // NB: managedFields left out keep the server's; a replace writes everything else as it was
    p.metadata.managed_fields = None;
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.get_opt(name).await? {
        Some(now) => {
            p.metadata.resource_version = now.metadata.resource_version;
            api.replace(name, &pp, &p).await?;
        }
        None => {
            p.metadata.resource_version = None;
            p.metadata.uid = None;
            p.metadata.creation_timestamp = None;
            api.create(&pp, &p).await?;
        }
    }
    Ok(())
}

/// What Wharf writes in one tenant namespace: the `AlertmanagerConfig`'s spec and the
/// Secret's data.
pub fn render_receivers(
    s: &MonitoringSettings,
    route: &TenantRoute,
    namespace: &str,
) -> Result<(Value, BTreeMap<String, String>), AppError> {
    let (Some(webhook_url), Some(token)) = (&s.webhook_url, &s.webhook_token) else {
        return Err(AppError::Invalid(text!(
            "alert receivers need the console's webhook URL and token (WHARF_ALERT_WEBHOOK_URL, WHARF_ALERT_WEBHOOK_TOKEN)",
            "告警接收者需要配置控制台的 Webhook 地址和令牌(WHARF_ALERT_WEBHOOK_URL、WHARF_ALERT_WEBHOOK_TOKEN)"
        )));
    };
    let secret_key = |key: &str| json!({"name": SECRET, "key": key});
    let mut secret = BTreeMap::from([(
        "webhook-token".to_string(),
        token.scoped(namespace).expose().to_string(),
    )]);
    let mut routes = vec![json!({"receiver": WHARF_RECEIVER, "continue": true})];
    let mut receivers = vec![json!({
        "name": WHARF_RECEIVER,
        "webhookConfigs": [{"url": webhook_url, "sendResolved": true,
            "httpConfig": {"authorization": {"credentials": secret_key("webhook-token")}}}],
    })];
    if !route.receivers.is_empty() {
        let name = receiver_name(&route.tenant);
        routes.push(json!({"receiver": name}));
        let hooks: Vec<Value> = route
            .receivers
            .iter()
            .filter(|r| r.kind == ReceiverKind::Webhook)
            .map(|r| json!({"url": r.to, "sendResolved": true}))
            .collect();
        let mails: Vec<Value> = route
            .receivers
            .iter()
            .filter(|r| r.kind == ReceiverKind::Email)
            .filter_map(|r| {
                // NB: `receivers_of` leaves e-mail receivers out without SMTP settings
                let smtp = s.smtp.as_ref()?;
                let mut m = json!({"to": r.to, "sendResolved": true, "smarthost": smtp.smarthost,
                    "from": smtp.from, "requireTLS": smtp.require_tls});
                if let Some(u) = &smtp.username {
                    m["authUsername"] = u.clone().into();
                }
                if smtp.password.is_some() {
                    m["authPassword"] = secret_key("smtp-password");
                }
                Some(m)
            })
            .collect();
        let mut rec = json!({"name": name});
        if !hooks.is_empty() {
            rec["webhookConfigs"] = hooks.into();
        }
        if !mails.is_empty() {
            rec["emailConfigs"] = mails.into();
            if let Some(p) = s.smtp.as_ref().and_then(|m| m.password.as_ref()) {
                secret.insert("smtp-password".into(), p.expose().to_string());
            }
        }
        receivers.push(rec);
    }
    let t = &s.routing;
    let spec = json!({
        "route": {
            "receiver": WHARF_RECEIVER,
            "groupBy": ["alertname", "namespace", "pod"],
            "groupWait": t.group_wait, "groupInterval": t.group_interval, "repeatInterval": t.repeat_interval,
            "routes": routes,
        },
        "receivers": receivers,
    });
    Ok((spec, secret))
}

/// A digest of everything rendered for one namespace (spec, secret, labels).
fn digest(
    spec: &Value,
    secret: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> String {
    use base64::Engine;
    use sha2::Digest;
    let all = json!({"spec": spec, "secret": secret, "labels": labels}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(all.as_bytes()))
}

/// Brings every tenant namespace's `AlertmanagerConfig` and Secret in step with `routes`, and
/// deletes those of namespaces no tenant has. `Ok(true)`: something changed. A namespace that
/// fails does not stop the others; the first failure is returned at the end.
pub async fn converge_receivers(
    state: &AppState,
    o: &OperatorSettings,
    routes: &[TenantRoute],
) -> Result<bool, AppError> {
    let s = &state.settings.monitoring;
    let r = alertmanager_config();
    let client = &state.client;
    let selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
    let existing = match Api::<DynamicObject>::all_with(client.clone(), &r)
        .list(&ListParams::default().labels(&selector))
        .await
    {
        Ok(list) => list.items,
        Err(e) if is_404(&e) => return Err(not_served(&r)),
        Err(e) => return Err(e.into()),
    };
    let mut desired: BTreeMap<&str, &TenantRoute> = BTreeMap::new();
    for route in routes {
        for ns in route
            .namespaces
            .iter()
            .filter(|n| wharf_api::names::is_dns_label(n))
        {
            desired.insert(ns, route);
        }
    }
    let own = |ns: &str| {
        existing.iter().find(|x| {
            x.metadata.namespace.as_deref() == Some(ns)
                && x.metadata.name.as_deref() == Some(RECEIVERS)
        })
    };
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let mut changed = false;
    let mut first_error: Option<AppError> = None;
    for (ns, route) in &desired {
        let (spec, secret) = render_receivers(s, route, ns)?;
        let object_labels = labels(o, &[]);
        let rendered = digest(&spec, &secret, &object_labels);
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
        if own(ns).and_then(|x| x.metadata.annotations.as_ref()?.get(RENDERED)) == Some(&rendered) {
            // NB: the digest is on the AlertmanagerConfig: a Secret deleted by hand (or by a
            // namespace clean-up) is written again
            match secrets.get_opt(SECRET).await {
                Ok(Some(_)) => continue,
                Ok(None) => {
                    tracing::info!(
                        namespace = ns,
                        "the receivers' Secret {SECRET} is gone: writing it again"
                    )
                }
                Err(e) => {
                    first_error.get_or_insert(e.into());
                    continue;
                }
            }
        }
        let data: BTreeMap<&String, String> = secret
            .iter()
            .map(|(k, v)| {
                use base64::Engine;
                (k, base64::engine::general_purpose::STANDARD.encode(v))
            })
            .collect();
        let secret_obj = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": ns, "labels": object_labels},
            "type": "Opaque",
            "data": data,
        });
        let amc = json!({
            "apiVersion": r.api_version, "kind": r.kind,
            "metadata": {"name": RECEIVERS, "namespace": ns, "labels": object_labels,
                "annotations": {RENDERED: rendered}},
            "spec": spec,
        });
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &r);
        let done = async {
            secrets
                .patch(SECRET, &apply, &Patch::Apply(&secret_obj))
                .await?;
            api.patch(RECEIVERS, &apply, &Patch::Apply(&amc)).await
        }
        .await;
        match done {
            Ok(_) => {
                changed = true;
                tracing::info!(namespace = ns, tenant = %route.tenant, "AlertmanagerConfig {RECEIVERS} written");
            }
            Err(e) => {
                tracing::warn!(namespace = ns, tenant = %route.tenant, error = %e, "writing AlertmanagerConfig {RECEIVERS}");
                first_error.get_or_insert(e.into());
            }
        }
    }
    for x in &existing {
        let (Some(ns), Some(RECEIVERS)) =
            (x.metadata.namespace.as_deref(), x.metadata.name.as_deref())
        else {
            continue;
        };
        if desired.contains_key(ns) {
            continue;
        }
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &r);
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
        // NB: the Secret first: while the AlertmanagerConfig is there, the next round retries
        let done = async {
            match secrets.delete(SECRET, &DeleteParams::default()).await {
                Err(e) if !is_404(&e) => return Err(e),
                _ => {}
            }
            match api.delete(RECEIVERS, &DeleteParams::default()).await {
                Err(e) if !is_404(&e) => Err(e),
                _ => Ok(()),
            }
        }
        .await;
        match done {
            Ok(()) => {
                changed = true;
                tracing::info!(
                    namespace = ns,
                    "AlertmanagerConfig {RECEIVERS} deleted: the namespace belongs to no tenant"
                );
            }
            Err(e) => {
                tracing::warn!(namespace = ns, error = %e, "deleting AlertmanagerConfig {RECEIVERS} of a namespace no tenant has");
                first_error.get_or_insert(e.into());
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(changed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::{Smtp, Token};
    use wharf_api::monitoring::receivers::Receiver;

    fn settings() -> MonitoringSettings {
        MonitoringSettings {
            webhook_url: Some("http://wharf.wharf-system/hooks/alertmanager".into()),
            webhook_token: Some(Token::new("s3cret")),
            smtp: Some(Smtp {
                smarthost: "mail:25".into(),
                from: "wharf@example.org".into(),
                username: Some("wharf".into()),
                password: Some(Token::new("pw")),
                require_tls: true,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_namespace_routes_to_the_console_then_its_tenant() {
        let route = TenantRoute {
            tenant: "alpha".into(),
            namespaces: vec!["alpha".into(), "alpha-dev".into()],
            receivers: vec![
                Receiver {
                    name: "hook".into(),
                    kind: ReceiverKind::Webhook,
                    to: "https://hooks.example.org/a".into(),
                },
                Receiver {
                    name: "ops".into(),
                    kind: ReceiverKind::Email,
                    to: "ops@example.org".into(),
                },
            ],
        };
        let (spec, secret) = render_receivers(&settings(), &route, "alpha-dev").unwrap();
        assert_eq!(
            spec["route"]["routes"][0],
            json!({"receiver": "wharf", "continue": true})
        );
        assert_eq!(spec["route"]["routes"][1]["receiver"], "tenant:alpha");
        assert_eq!(
            spec["receivers"][1]["webhookConfigs"][0]["url"],
            "https://hooks.example.org/a"
        );
        assert_eq!(
            spec["receivers"][1]["emailConfigs"][0]["authPassword"]["key"],
            "smtp-password"
        );
        assert_eq!(secret["smtp-password"], "pw");
        // the token in the namespace is that namespace's, never the console's own
        assert_eq!(
            secret["webhook-token"],
            Token::new("s3cret").scoped("alpha-dev").expose()
        );
        assert_ne!(secret["webhook-token"], "s3cret");
        // a tenant without receivers still sends its alerts to the console
        let quiet = TenantRoute {
            receivers: vec![],
            ..route
        };
        let (spec, secret) = render_receivers(&settings(), &quiet, "alpha").unwrap();
        assert_eq!(spec["receivers"].as_array().unwrap().len(), 1);
        assert!(!secret.contains_key("smtp-password"));
    }

    #[test]
    fn selector_labels_cannot_take_ownership_away() {
        let o = OperatorSettings {
            labels: BTreeMap::from([
                ("release".to_string(), "kube-prometheus-stack".to_string()),
                (MANAGED_BY.0.to_string(), "helm".to_string()),
            ]),
            ..Default::default()
        };
        let l = labels(&o, &[(APP_LABEL, "orders")]);
        assert_eq!(l[MANAGED_BY.0], "wharf");
        assert_eq!(l["release"], "kube-prometheus-stack");
        assert_eq!(l[APP_LABEL], "orders");
    }
}
