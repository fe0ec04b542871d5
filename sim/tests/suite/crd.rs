//! CustomResourceDefinitions: created, established, discovered, and their
//! objects served dynamically; deleting the CRD deletes its objects.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::discovery::Discovery;
use serde_json::json;

fn crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "tenants.wharf.dev"},
        "spec": {
            "group": "wharf.dev", "scope": "Namespaced",
            "names": {"plural": "tenants", "singular": "tenant", "kind": "Tenant", "shortNames": ["tn"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}}]
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn crd_lifecycle_and_dynamic_objects() {
    let (sim, client) = crate::support::spawn().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd()).await.unwrap();
    crate::support::eventually(10, || async {
        let c = crds.get("tenants.wharf.dev").await.ok()?;
        let conds = c.status?.conditions?;
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
            .then_some(())
    })
    .await;

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("wharf.dev", "v1", "Tenant"))
        .expect("Tenant discovered");
    assert_eq!(ar.plural, "tenants");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural.ends_with("status")),
        "{:?}",
        caps.subresources
    );

    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("wharf.dev", "v1", "Tenant"));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let mut obj = DynamicObject::new("acme", &ar);
    obj.data = json!({"spec": {"plan": "gold"}, "status": {"ignored": true}});
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.data["spec"]["plan"], "gold");
    assert!(
        created.data.get("status").is_none(),
        "status subresource: create drops status"
    );

    let patched = api
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"plan": "silver"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["plan"], "silver");
    assert_eq!(patched.metadata.generation, Some(2));
    let st = api
        .patch_status(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["ready"], true);

    // Strategic merge is not for custom resources (415, as on a real server).
    let err = api
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"plan": "x"}})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 415));

    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    let mut replaced = api.get("acme").await.unwrap();
    replaced.data["spec"]["plan"] = json!("bronze");
    api.replace("acme", &PostParams::default(), &replaced)
        .await
        .unwrap();

    crds.delete("tenants.wharf.dev", &DeleteParams::default())
        .await
        .unwrap();
    let gone = sim.store().get(
        &sim::ResourceId::new("wharf.dev", "tenants"),
        "default",
        "acme",
    );
    assert!(gone.is_err(), "deleting the CRD deletes its objects");
    assert!(
        api.list(&ListParams::default()).await.is_err(),
        "the resource is no longer served"
    );
    sim.shutdown().await;
}
