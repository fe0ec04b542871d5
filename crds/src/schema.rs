//! The CRDs' OpenAPI schemas as real API servers accept them. schemars writes what serde
//! does, and two of those things are rejected:
//! - `default: ''` (from `#[serde(default)]` on a `String`): kube-apiserver 1.20 as built with
//!   Go >= 1.19 (Debian's, the suite's) reads an empty string as null wherever it validates
//!   against a schema — its validator takes any zero value for null, and Go now hands out one
//!   shared address for every empty string — and refuses the CRD ("default: Invalid value:
//!   \"null\""). The default is dropped: the console fills the same empty value when it reads.
//!   For the same reason the resources omit their empty optional strings when they are written.
//! - `enum: [..., null]` (from an `Option` of an enum): kubectl's client-side validation
//!   refuses a null enum member. The null is dropped; `nullable: true` already says it.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::Value;

/// `crd` with every version's schema made acceptable (see the module's doc).
pub fn for_apiserver(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            fix(schema);
        }
    }
    crd
}

fn fix(s: &mut JSONSchemaProps) {
    if matches!(&s.default, Some(d) if d.0 == Value::String(String::new())) {
        s.default = None;
    }
    if let Some(values) = &mut s.enum_ {
        let before = values.len();
        values.retain(|v| !v.0.is_null());
        if values.len() != before {
            s.nullable = Some(true);
        }
    }
    for p in s.properties.iter_mut().flat_map(|m| m.values_mut()) {
        fix(p);
    }
    match &mut s.items {
        Some(JSONSchemaPropsOrArray::Schema(p)) => fix(p),
        Some(JSONSchemaPropsOrArray::Schemas(ps)) => ps.iter_mut().for_each(fix),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(p)) = &mut s.additional_properties {
        fix(p);
    }
    for group in [&mut s.all_of, &mut s.any_of, &mut s.one_of] {
        group.iter_mut().flatten().for_each(fix);
    }
    if let Some(p) = &mut s.not {
        fix(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk<'a>(s: &'a JSONSchemaProps, out: &mut Vec<&'a JSONSchemaProps>) {
        out.push(s);
        for p in s.properties.iter().flat_map(|m| m.values()) {
            walk(p, out);
        }
        if let Some(JSONSchemaPropsOrArray::Schema(p)) = &s.items {
            walk(p, out);
        }
        if let Some(JSONSchemaPropsOrBool::Schema(p)) = &s.additional_properties {
            walk(p, out);
        }
    }

    #[test]
    fn no_schema_keeps_an_empty_string_default_or_a_null_enum_member() {
        let mut fixed_enums = 0;
        for crd in crate::all() {
            for v in &crd.spec.versions {
                let root = v
                    .schema
                    .as_ref()
                    .unwrap()
                    .open_api_v3_schema
                    .as_ref()
                    .unwrap();
                let mut nodes = vec![];
                walk(root, &mut nodes);
                for n in nodes {
                    assert_ne!(
                        n.default.as_ref().map(|d| &d.0),
                        Some(&Value::String("".into()))
                    );
                    if let Some(e) = &n.enum_ {
                        assert!(e.iter().all(|v| !v.0.is_null()));
                        if n.nullable == Some(true) {
                            fixed_enums += 1;
                        }
                    }
                }
            }
        }
        // the pipeline's `lastPhase` (an Option of an enum) is one of them
        assert!(fixed_enums >= 1);
    }

    #[test]
    fn other_defaults_stay() {
        let route = crate::all()
            .into_iter()
            .find(|c| c.spec.names.kind == "NginxRoute")
            .unwrap();
        let spec = &route.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap()
            .properties
            .as_ref()
            .unwrap()["spec"];
        assert_eq!(
            spec.properties.as_ref().unwrap()["path"]
                .default
                .as_ref()
                .map(|d| &d.0),
            Some(&Value::String("/".into()))
        );
    }
}
