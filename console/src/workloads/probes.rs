//! An app's health checks after deploy: read back into the deploy form's shape, and changed
//! (a rollout, recorded as its cause). Works for Deployments and StatefulSets alike.
//!
//! A check set in a way the form cannot show (see [`AppProbes::custom`]) is reported as such
//! and never rewritten here: the YAML editor owns it.

use super::{app_object, retry_on_conflict, CHANGE_CAUSE};
use crate::auth::TenantScope;
use crate::state::AppState;
use kube::api::{DynamicObject, PostParams};
use serde_json::Value;
use wharf_api::error::AppError;
use wharf_api::text;
use wharf_api::workloads::pod::{check, AppProbes, ProbeAction, ProbeForm, ProbesForm};

const WHICH: [&str; 3] = ["readiness", "liveness", "startup"];

/// The app's container (the first): its JSON and its port.
fn container(obj: &Value) -> (&Value, Option<u16>) {
    let c = &obj["spec"]["template"]["spec"]["containers"][0];
    let port = c["ports"][0]["containerPort"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok());
    (c, port)
}

/// The form's view of a Kubernetes probe, or `None` when the form cannot show all of it.
fn form_of(probe: &Value, app_port: Option<u16>) -> Option<ProbeForm> {
    let fields = probe.as_object()?;
    let known = [
        "httpGet",
        "tcpSocket",
        "exec",
        "initialDelaySeconds",
        "periodSeconds",
        "failureThreshold",
        "timeoutSeconds",
        "successThreshold",
    ];
    if fields.keys().any(|k| !known.contains(&k.as_str())) {
        return None;
    }
    // the API server's defaults: anything else was chosen in YAML
    let is_default = |key: &str| probe.get(key).is_none_or(|v| v.as_i64() == Some(1));
    if !is_default("timeoutSeconds") || !is_default("successThreshold") {
        return None;
    }
    let port_of = |handler: &Value| -> Option<Option<u16>> {
        let p = u16::try_from(handler["port"].as_u64()?).ok()?;
        Some((Some(p) != app_port).then_some(p))
    };
    let only = |handler: &Value, allowed: &[&str]| {
        handler
            .as_object()
            .is_some_and(|o| o.keys().all(|k| allowed.contains(&k.as_str())))
    };
    let (action, port) = if let Some(h) = probe.get("httpGet") {
        let plain = h["scheme"].as_str().is_none_or(|s| s == "HTTP");
        if !plain || !only(h, &["path", "port", "scheme"]) {
            return None;
        }
        let path = h["path"].as_str().unwrap_or("/").to_string();
        (ProbeAction::Http { path }, port_of(h)?)
    } else if let Some(h) = probe.get("tcpSocket") {
        if !only(h, &["port"]) {
            return None;
        }
        (ProbeAction::Tcp, port_of(h)?)
    } else {
        match probe["exec"]["command"].as_array()?.as_slice() {
            [sh, dash_c, command] if sh == "sh" && dash_c == "-c" => (
                ProbeAction::Command {
                    command: command.as_str()?.to_string(),
                },
                None,
            ),
            _ => return None,
        }
    };
    let number = |key: &str, default: i32| {
        probe[key]
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(default)
    };
    Some(ProbeForm {
        action,
        port,
        initial_delay_seconds: number("initialDelaySeconds", 0),
        period_seconds: number("periodSeconds", 10),
        failure_threshold: number("failureThreshold", 3),
    })
}

/// What the app's checks are, as the form shows them.
fn probes_of(obj: &Value) -> AppProbes {
    let (c, port) = container(obj);
    let mut out = AppProbes {
        port,
        ..AppProbes::default()
    };
    for which in WHICH {
        let probe = &c[format!("{which}Probe")];
        if probe.is_null() {
            continue;
        }
        let Some(form) = form_of(probe, port) else {
            out.custom.push(which.to_string());
            continue;
        };
        let slot = match which {
            "readiness" => &mut out.probes.readiness,
            "liveness" => &mut out.probes.liveness,
            _ => &mut out.probes.startup,
        };
        *slot = Some(form);
    }
    out
}

pub async fn probes(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
) -> Result<AppProbes, AppError> {
    let (_, _, obj) = app_object(&state.client, scope.namespace(namespace)?, name).await?;
    Ok(probes_of(&obj.data))
}

/// Gives the app's container the checks of `form`, leaving `custom` ones alone, and records
/// `cause`.
fn apply_form(app: &mut DynamicObject, form: &ProbesForm, custom: &[String], cause: &str) {
    let port = container(&app.data).1;
    let c = &mut app.data["spec"]["template"]["spec"]["containers"][0];
    for (which, wanted) in form.each() {
        if custom.iter().any(|c| c == which) {
            continue;
        }
        let key = format!("{which}Probe");
        match (wanted, c.as_object_mut()) {
            (Some(p), Some(c)) => {
                c.insert(key, super::pod::probe_json(p, port));
            }
            (None, Some(c)) => {
                c.remove(&key);
            }
            (_, None) => {}
        }
    }
    app.metadata
        .annotations
        .get_or_insert_default()
        .insert(CHANGE_CAUSE.into(), cause.into());
}

/// Gives the app the checks of `form` (a rollout). A check only YAML can show stays as it is.
pub async fn set_probes(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
    form: ProbesForm,
) -> Result<(), AppError> {
    let (kind, api, obj) = app_object(&state.client, scope.namespace(namespace)?, name).await?;
    let now = probes_of(&obj.data);
    AppError::invalid_if_any(check(&[], &form, &[], now.port, name))?;
    for which in &now.custom {
        let asked = form.each().iter().any(|(w, p)| w == which && p.is_some());
        if asked {
            return Err(AppError::Invalid(text!(
                "the {which} check is set in the YAML in a way this form cannot show: change it in the YAML editor",
                "{which} 检查在 YAML 中的设置超出了表单能显示的范围:请在 YAML 编辑器中修改"
            )));
        }
    }
    let cause = format!("health checks changed by {}", scope.user());
    tracing::info!(user = scope.user(), %namespace, %name, ?kind, "changing health checks");
    // NB: the replace carries the resourceVersion read; after a 409 the form is applied to a
    // fresh read while the generation (see `conflict`) and the checks are what were read
    let generation = obj.metadata.generation;
    let read = || async {
        let app = api.get(name).await?;
        // checks changed meanwhile end the retry as a moved generation does
        let generation = app
            .metadata
            .generation
            .filter(|_| probes_of(&app.data) == now);
        Ok((app, generation))
    };
    let write = |mut app: DynamicObject| {
        apply_form(&mut app, &form, &now.custom, &cause);
        let api = &api;
        async move { Ok(api.replace(name, &PostParams::default(), &app).await) }
    };
    match retry_on_conflict((obj, generation), read, write).await? {
        Some(_) => Ok(()),
        None => Err(AppError::Conflict(text!(
            "the app changed since its checks were read: look again, then save",
            "读取检查之后应用已被修改:请重新查看后再保存"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_forms_own_checks_read_back_as_they_were_made() {
        for form in [
            ProbeForm::http("/healthz"),
            ProbeForm {
                action: ProbeAction::Tcp,
                port: Some(9090),
                initial_delay_seconds: 5,
                period_seconds: 7,
                failure_threshold: 2,
            },
            ProbeForm {
                action: ProbeAction::Command {
                    command: "test -f /tmp/ok".into(),
                },
                ..ProbeForm::http("/")
            },
        ] {
            let mut k8s = super::super::pod::probe_json(&form, Some(8080));
            // what the API server adds
            k8s["timeoutSeconds"] = json!(1);
            k8s["successThreshold"] = json!(1);
            if k8s.get("httpGet").is_some() {
                k8s["httpGet"]["scheme"] = json!("HTTP");
            }
            assert_eq!(form_of(&k8s, Some(8080)), Some(form));
        }
    }

    #[test]
    fn checks_beyond_the_form_are_not_shown_as_if_they_were_simple() {
        let app = Some(8080);
        for custom in [
            json!({"httpGet": {"path": "/", "port": 8080, "scheme": "HTTPS"}}),
            json!({"httpGet": {"path": "/", "port": "http"}}),
            json!({"httpGet": {"path": "/", "port": 8080, "httpHeaders": [{"name": "Host", "value": "x"}]}}),
            json!({"tcpSocket": {"port": 8080, "host": "10.0.0.1"}}),
            json!({"exec": {"command": ["cat", "/tmp/ok"]}}),
            json!({"grpc": {"port": 8080}}),
            json!({"httpGet": {"path": "/", "port": 8080}, "timeoutSeconds": 5}),
            json!({"httpGet": {"path": "/", "port": 8080}, "successThreshold": 2}),
        ] {
            assert_eq!(form_of(&custom, app), None, "{custom}");
        }
    }

    #[test]
    fn a_save_replaces_the_forms_checks_and_keeps_custom_ones() {
        let mut app: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "alpha"},
            "spec": {"template": {"spec": {"containers": [{
                "name": "web", "image": "nginx", "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                "livenessProbe": {"tcpSocket": {"port": 8080}},
                "startupProbe": {"httpGet": {"path": "/", "port": 8080, "scheme": "HTTPS"}},
            }]}}},
        }))
        .unwrap();
        let form = ProbesForm {
            readiness: Some(ProbeForm {
                action: ProbeAction::Tcp,
                ..ProbeForm::http("/")
            }),
            liveness: None,
            startup: None,
        };
        apply_form(
            &mut app,
            &form,
            &["startup".into()],
            "health checks changed by alice",
        );
        let c = &app.data["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], 8080);
        assert!(c["readinessProbe"].get("httpGet").is_none());
        assert!(c.get("livenessProbe").is_none());
        assert_eq!(c["startupProbe"]["httpGet"]["scheme"], "HTTPS");
        assert_eq!(
            app.metadata.annotations.unwrap()[CHANGE_CAUSE],
            "health checks changed by alice"
        );
    }
}
