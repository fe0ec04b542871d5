//! Wharf's CRDs on the demo cluster and on a real kube-apiserver: each is accepted and
//! established (the console installs them with its own account), and a full example of each
//! kind — every field its schema has, spec and status — comes back as it was sent: nothing
//! the console relies on is pruned, re-typed or refused.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{json, Map, Value};
use wharf_tests::on_both_clusters;
use wharf_tests::real::Clients;

on_both_clusters!(clients: every_kind_round_trips_in_full);

/// A value for every property of `s` (the first enum member, a date-time where the format
/// says so, one item per list, one entry per map).
fn example(s: &JSONSchemaProps) -> Value {
    if let Some(first) = s.enum_.as_ref().and_then(|e| e.first()) {
        return first.0.clone();
    }
    if s.x_kubernetes_int_or_string == Some(true) {
        return json!(8080);
    }
    match s.type_.as_deref() {
        Some("string") => match s.format.as_deref() {
            Some("date-time") => json!("2026-12-04T10:00:00Z"),
            _ => json!("x-value"),
        },
        Some("integer") => json!(s.minimum.map_or(3, |m| (m as i64).max(3))),
        Some("number") => json!(2.5),
        Some("boolean") => json!(true),
        Some("array") => match &s.items {
            Some(JSONSchemaPropsOrArray::Schema(item)) => json!([example(item)]),
            _ => json!([]),
        },
        _ => {
            let mut out = Map::new();
            for (k, p) in s.properties.iter().flatten() {
                out.insert(k.clone(), example(p));
            }
            match &s.additional_properties {
                Some(JSONSchemaPropsOrBool::Schema(v)) => {
                    out.insert("key-1".into(), example(v));
                }
                Some(JSONSchemaPropsOrBool::Bool(true)) => {
                    out.insert("key-1".into(), json!("x-value"));
                }
                _ => {}
            }
            if out.is_empty() && s.x_kubernetes_preserve_unknown_fields == Some(true) {
                out.insert("anything".into(), json!({"kept": true}));
            }
            Value::Object(out)
        }
    }
}

fn schema_of(crd: &CustomResourceDefinition) -> &JSONSchemaProps {
    crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("a schema")
}

async fn every_kind_round_trips_in_full(clients: Clients) {
    let client = clients.admin.clone();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds::all() {
        let name = crd.metadata.name.clone().unwrap();
        let served = crds.get(&name).await.expect("installed by the console");
        assert!(
            served
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"),
            "{name} is established"
        );

        let version = &crd.spec.versions[0];
        let resource = ApiResource {
            group: crd.spec.group.clone(),
            version: version.name.clone(),
            api_version: format!("{}/{}", crd.spec.group, version.name),
            kind: crd.spec.names.kind.clone(),
            plural: crd.spec.names.plural.clone(),
        };
        let namespaced = crd.spec.scope == "Namespaced";
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), "alpha", &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let full = example(schema_of(&crd));
        let obj_name = format!("full-{}", crd.spec.names.singular.as_deref().unwrap());
        let mut obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": resource.api_version, "kind": resource.kind,
            "metadata": {"name": obj_name},
            "spec": full["spec"],
        }))
        .unwrap();
        if namespaced {
            obj.metadata.namespace = Some("alpha".into());
        }
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("creating a full {}: {e}", resource.kind));
        let back = api.get(&obj_name).await.unwrap();
        assert_eq!(
            back.data["spec"], full["spec"],
            "{}: the spec came back changed",
            resource.kind
        );

        // the printer columns resolve: `kubectl get` shows a value in each (the real server
        // computes them from the columns' JSON paths)
        if let Some(columns) = &version.additional_printer_columns {
            let back = if full.get("status").is_some() {
                // columns may point into the status: write it first
                api.patch_status(
                    &obj_name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": full["status"]})),
                )
                .await
                .unwrap_or_else(|e| panic!("writing a full {} status: {e}", resource.kind));
                api.get(&obj_name).await.unwrap()
            } else {
                back
            };
            for column in columns {
                let path = column.json_path.trim_start_matches('.');
                let value = path.split('.').try_fold(&back.data, |v, key| v.get(key));
                assert!(
                    value.is_some_and(|v| !v.is_null()),
                    "{}: printer column {} ({}) resolves to nothing",
                    resource.kind,
                    column.name,
                    column.json_path
                );
            }
        }

        if full.get("status").is_some() {
            assert!(
                version
                    .subresources
                    .as_ref()
                    .is_some_and(|s| s.status.is_some()),
                "{}: the console writes its status, so it is a subresource",
                resource.kind
            );
            api.patch_status(
                &obj_name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": full["status"]})),
            )
            .await
            .unwrap_or_else(|e| panic!("writing a full {} status: {e}", resource.kind));
            let back = api.get(&obj_name).await.unwrap();
            assert_eq!(
                back.data["status"], full["status"],
                "{}: the status came back changed",
                resource.kind
            );
            assert_eq!(
                back.data["spec"], full["spec"],
                "{}: writing the status changed the spec",
                resource.kind
            );
        }
    }
}
