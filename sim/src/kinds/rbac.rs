//! Role, ClusterRole, RoleBinding and ClusterRoleBinding (`rbac.authorization.k8s.io/v1`) as
//! kube-apiserver 1.20 defaults, encodes and validates them. They are stored, never enforced:
//! the demo cluster authorizes every request.
//!
//! - [`defaults`]: a binding's `roleRef.apiGroup` and its subjects' `apiGroup` by kind;
//! - [`encode`]: what Go's encoding leaves out or writes as `null` (a role's missing or empty
//!   `rules` is `null`; empty strings and lists of `omitempty` fields go);
//! - [`validate`]: the field errors of `pkg/apis/rbac/validation` in its order and words, a
//!   binding's `roleRef` immutable on update (after defaults, as the real server compares).

use serde_json::{json, Value};

use super::name::{is_subdomain, SUBDOMAIN_MSG};
use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;

/// The API group, which is also the only `apiGroup` a `roleRef` may name.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// Whether `info` is one of the four RBAC kinds.
pub fn is_rbac(info: &ResourceInfo) -> bool {
    !info.custom && info.group == GROUP
}

fn is_binding(kind: &str) -> bool {
    matches!(kind, "RoleBinding" | "ClusterRoleBinding")
}

/// Defaults of these kinds (idempotent; called from `defaults::apply`): a binding's
/// `roleRef.apiGroup`, and its User and Group subjects' `apiGroup`.
pub(crate) fn defaults(info: &ResourceInfo, obj: &mut Value) {
    if !is_rbac(info) || !is_binding(&info.kind) {
        return;
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    // NB: `roleRef` is a struct, not a pointer: always there, its fields always written.
    let role_ref = map.entry("roleRef").or_insert_with(|| json!({}));
    if !role_ref.is_object() {
        *role_ref = json!({});
    }
    for k in ["apiGroup", "kind", "name"] {
        if role_ref.get(k).is_none_or(Value::is_null) {
            role_ref[k] = json!("");
        }
    }
    if role_ref["apiGroup"] == "" {
        role_ref["apiGroup"] = json!(GROUP);
    }
    if let Some(subjects) = map.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
            let group_unset = s
                .get("apiGroup")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            if group_unset
                && matches!(
                    s.get("kind").and_then(Value::as_str),
                    Some("User" | "Group")
                )
            {
                s.insert("apiGroup".into(), json!(GROUP));
            }
        }
    }
}

/// What Go's encoding and storage make of an object as written: `omitempty` fields that are
/// empty go, and a role's missing or empty `rules` is `null` (the field has no `omitempty`,
/// and storage does not tell an empty list from none). Runs after `managedFields` are
/// recorded, which see the object as sent (`rules: []` is owned, `null` after).
pub(crate) fn encode(info: &ResourceInfo, obj: &mut Value) {
    if !is_rbac(info) {
        return;
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if is_binding(&info.kind) {
        let mut keep_subjects = false;
        if let Some(subjects) = map.get_mut("subjects").and_then(Value::as_array_mut) {
            for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
                for k in ["kind", "name"] {
                    if s.get(k).is_none_or(Value::is_null) {
                        s.insert(k.into(), json!(""));
                    }
                }
                for k in ["apiGroup", "namespace"] {
                    if s.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                        s.remove(k);
                    }
                }
            }
            keep_subjects = !subjects.is_empty();
        }
        if !keep_subjects {
            map.remove("subjects");
        }
        return;
    }
    let empty = map
        .get("rules")
        .is_none_or(|r| r.as_array().is_none_or(Vec::is_empty));
    if empty {
        map.insert("rules".into(), Value::Null);
    }
    if let Some(rules) = map.get_mut("rules").and_then(Value::as_array_mut) {
        for r in rules.iter_mut().filter_map(Value::as_object_mut) {
            for k in ["apiGroups", "resources", "resourceNames", "nonResourceURLs"] {
                if r.get(k)
                    .is_some_and(|v| v.as_array().is_none_or(Vec::is_empty))
                {
                    r.remove(k);
                }
            }
        }
    }
    if info.kind == "ClusterRole" {
        if map.get("aggregationRule").is_some_and(|a| !a.is_object()) {
            map.remove("aggregationRule");
        }
        if let Some(a) = map
            .get_mut("aggregationRule")
            .and_then(Value::as_object_mut)
        {
            let none = a
                .get("clusterRoleSelectors")
                .is_some_and(|v| v.as_array().is_none_or(Vec::is_empty));
            if none {
                a.remove("clusterRoleSelectors");
            }
        }
    }
}

/// A string as Go's `%q` prints it (close enough for names: JSON's escaping).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// `path.IsValidPathSegmentName`: RBAC names (`system:controller:x` is one) may be anything
/// but `.`, `..` or something with `/` or `%` in it.
pub fn path_segment_problems(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(**c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

fn not_supported(field: String, value: &str, allowed: &[&str]) -> Cause {
    let allowed: Vec<String> = allowed.iter().map(|a| q(a)).collect();
    Cause::new(
        "FieldValueNotSupported",
        field,
        format!(
            "Unsupported value: {}: supported values: {}",
            q(value),
            allowed.join(", ")
        ),
    )
}

fn required(field: String, detail: &str) -> Cause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    Cause::new("FieldValueRequired", field, message)
}

/// `[]string{"a", "b"}`, as Go's `%#v` prints a string slice.
fn go_strings(v: &[&str]) -> String {
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

fn policy_rule(rule: &Value, namespaced: bool, at: &str, out: &mut Vec<Cause>) {
    if strs(&rule["verbs"]).is_empty() {
        out.push(required(
            format!("{at}.verbs"),
            "verbs must contain at least one value",
        ));
    }
    let urls = strs(&rule["nonResourceURLs"]);
    if !urls.is_empty() {
        let bad = |detail: &str| {
            Cause::invalid(
                format!("{at}.nonResourceURLs"),
                format!("Invalid value: {}: {detail}", go_strings(&urls)),
            )
        };
        if namespaced {
            out.push(bad("namespaced rules cannot apply to non-resource URLs"));
        }
        let resourceful = ["apiGroups", "resources", "resourceNames"]
            .iter()
            .any(|k| !strs(&rule[*k]).is_empty());
        if resourceful {
            out.push(bad(
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return;
    }
    if rule["apiGroups"].as_array().is_none_or(Vec::is_empty) {
        out.push(required(
            format!("{at}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if rule["resources"].as_array().is_none_or(Vec::is_empty) {
        out.push(required(
            format!("{at}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
}

fn subject(s: &Value, namespaced: bool, at: &str, out: &mut Vec<Cause>) {
    let name = s["name"].as_str().unwrap_or_default();
    let group = s["apiGroup"].as_str().unwrap_or_default();
    let kind = s["kind"].as_str().unwrap_or_default();
    if name.is_empty() {
        out.push(required(format!("{at}.name"), ""));
    }
    match kind {
        "ServiceAccount" => {
            let subdomain = is_subdomain(name);
            if !name.is_empty() && !subdomain {
                out.push(Cause::invalid(
                    format!("{at}.name"),
                    format!("Invalid value: {}: {SUBDOMAIN_MSG}", q(name)),
                ));
            }
            if !group.is_empty() {
                out.push(not_supported(format!("{at}.apiGroup"), group, &[""]));
            }
            let ns = s["namespace"].as_str().unwrap_or_default();
            if !namespaced && ns.is_empty() {
                out.push(required(format!("{at}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != GROUP {
                out.push(not_supported(format!("{at}.apiGroup"), group, &[GROUP]));
            }
        }
        _ => out.push(not_supported(
            format!("{at}.kind"),
            kind,
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

fn role_ref(obj: &Value, kinds: &[&str], out: &mut Vec<Cause>) {
    let r = &obj["roleRef"];
    let group = r["apiGroup"].as_str().unwrap_or_default();
    if group != GROUP {
        out.push(not_supported("roleRef.apiGroup".into(), group, &[GROUP]));
    }
    let kind = r["kind"].as_str().unwrap_or_default();
    if !kinds.contains(&kind) {
        out.push(not_supported("roleRef.kind".into(), kind, kinds));
    }
    let name = r["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        out.push(required("roleRef.name".into(), ""));
    } else {
        for p in path_segment_problems(name) {
            out.push(Cause::invalid(
                "roleRef.name",
                format!("Invalid value: {}: {p}", q(name)),
            ));
        }
    }
}

/// `rbac.RoleRef{APIGroup:"…", Kind:"…", Name:"…"}`, as Go's `%#v` prints the internal type.
fn go_role_ref(r: &Value) -> String {
    let f = |k: &str| q(r[k].as_str().unwrap_or_default());
    format!(
        "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
        f("apiGroup"),
        f("kind"),
        f("name")
    )
}

/// The real server's 422 for `obj` (defaults applied) of an RBAC kind; `old` is the stored
/// object on update. `Ok` for other kinds.
pub(crate) fn validate(
    info: &ResourceInfo,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    if !is_rbac(info) {
        return Ok(());
    }
    let mut out = Vec::new();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    for p in path_segment_problems(name) {
        out.push(Cause::invalid(
            "metadata.name",
            format!("Invalid value: {}: {p}", q(name)),
        ));
    }
    match info.kind.as_str() {
        "Role" | "ClusterRole" => {
            let namespaced = info.kind == "Role";
            for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
                policy_rule(rule, namespaced, &format!("rules[{i}]"), &mut out);
            }
            let agg = &obj["aggregationRule"];
            if !namespaced
                && agg.is_object()
                && agg["clusterRoleSelectors"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
            {
                out.push(required(
                    "aggregationRule.clusterRoleSelectors".into(),
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let namespaced = info.kind == "RoleBinding";
            let kinds: &[&str] = if namespaced {
                &["Role", "ClusterRole"]
            } else {
                &["ClusterRole"]
            };
            role_ref(obj, kinds, &mut out);
            for (i, s) in obj["subjects"].as_array().into_iter().flatten().enumerate() {
                subject(s, namespaced, &format!("subjects[{i}]"), &mut out);
            }
            if let Some(old) = old {
                if old["roleRef"] != obj["roleRef"] {
                    out.push(Cause::invalid(
                        "roleRef",
                        format!(
                            "Invalid value: {}: cannot change roleRef",
                            go_role_ref(&obj["roleRef"])
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
    if out.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(&info.kind, &info.group, name, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    fn info(kind: &str) -> ResourceInfo {
        Registry::from_crds(std::iter::empty())
            .all()
            .iter()
            .find(|r| r.kind == kind)
            .cloned()
            .expect("served")
    }

    #[test]
    fn bindings_are_defaulted_as_go_encodes_them() {
        let rb_info = info("RoleBinding");
        let mut rb = json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "sa", "apiGroup": "", "namespace": ""}]});
        defaults(&rb_info, &mut rb);
        encode(&rb_info, &mut rb);
        assert_eq!(
            rb["roleRef"],
            json!({"apiGroup": GROUP, "kind": "Role", "name": "r"})
        );
        assert_eq!(
            rb["subjects"],
            json!([{"kind": "User", "name": "u", "apiGroup": GROUP}, {"kind": "ServiceAccount", "name": "sa"}])
        );
        let crb_info = info("ClusterRoleBinding");
        let mut empty = json!({"metadata": {"name": "rb"}, "subjects": []});
        defaults(&crb_info, &mut empty);
        encode(&crb_info, &mut empty);
        assert_eq!(
            empty,
            json!({"metadata": {"name": "rb"}, "roleRef": {"apiGroup": GROUP, "kind": "", "name": ""}})
        );
    }

    #[test]
    fn roles_without_rules_have_null_rules() {
        for rules in [json!(null), json!([])] {
            let mut r = json!({"metadata": {"name": "r"}, "rules": rules});
            encode(&info("Role"), &mut r);
            assert_eq!(r["rules"], Value::Null);
            assert!(r.as_object().unwrap().contains_key("rules"));
        }
        let mut r = json!({"rules": [{"verbs": ["get"], "apiGroups": [], "resources": ["pods"]}]});
        encode(&info("ClusterRole"), &mut r);
        assert_eq!(
            r["rules"],
            json!([{"verbs": ["get"], "resources": ["pods"]}])
        );
    }

    #[test]
    fn field_errors_in_the_real_order_and_words() {
        let role = json!({"metadata": {"name": "a/b"}, "rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"], "resources": ["pods"]}, {}]});
        let e = validate(&info("Role"), &role, None).unwrap_err();
        assert_eq!(
            e.message,
            "Role.rbac.authorization.k8s.io \"a/b\" is invalid: [metadata.name: Invalid value: \"a/b\": may not contain '/', \
             rules[0].nonResourceURLs: Invalid value: []string{\"/x\"}: namespaced rules cannot apply to non-resource URLs, \
             rules[0].nonResourceURLs: Invalid value: []string{\"/x\"}: rules cannot apply to both regular resources and non-resource URLs, \
             rules[1].verbs: Required value: verbs must contain at least one value, \
             rules[1].apiGroups: Required value: resource rules must supply at least one api group, \
             rules[1].resources: Required value: resource rules must supply at least one resource]"
        );
        let crb = json!({"metadata": {"name": "system:x"}, "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa"}, {"kind": "Robot", "name": "r"}]});
        let e = validate(&info("ClusterRoleBinding"), &crb, None).unwrap_err();
        assert_eq!(
            e.message,
            "ClusterRoleBinding.rbac.authorization.k8s.io \"system:x\" is invalid: [roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\", \
             subjects[0].namespace: Required value, \
             subjects[1].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"]"
        );
    }

    #[test]
    fn role_ref_is_immutable() {
        let old = json!({"metadata": {"name": "rb"}, "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"}});
        let mut new = old.clone();
        assert!(validate(&info("RoleBinding"), &new, Some(&old)).is_ok());
        new["roleRef"]["name"] = json!("other");
        let e = validate(&info("RoleBinding"), &new, Some(&old)).unwrap_err();
        assert_eq!(
            e.message,
            "RoleBinding.rbac.authorization.k8s.io \"rb\" is invalid: roleRef: Invalid value: \
             rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"Role\", Name:\"other\"}: cannot change roleRef"
        );
    }
}
