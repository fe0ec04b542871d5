//! Config per tenant: the ConfigMaps and Secrets of the tenant's namespaces as first-class
//! objects — an editor (Secret values hidden until a developer reveals them; viewers never see
//! them), the history of each object's changes (who, when, a diff for ConfigMaps, only which
//! keys changed for Secrets), and "apply to the apps that use it", which rolls them.

use crate::{text, Text};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most a ConfigMap or Secret may hold (the API server's limit on an object's data).
pub const MAX_BYTES: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigKind {
    ConfigMap,
    Secret,
}

impl ConfigKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKind::ConfigMap => "ConfigMap",
            ConfigKind::Secret => "Secret",
        }
    }

    pub fn label(self) -> Text {
        match self {
            ConfigKind::ConfigMap => text!("config", "配置"),
            ConfigKind::Secret => text!("secret", "密文"),
        }
    }
}

/// Who may change an object through the editor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Editable {
    Yes,
    /// Kept by Kubernetes (`kube-root-ca.crt`, service account tokens) or by Wharf (a
    /// pipeline's webhook secret, alerting): shown, never changed here.
    Managed,
    /// A Secret of another type than `Opaque` (TLS pairs belong to routes, registry
    /// credentials to their own form): shown with its keys only.
    OtherType,
}

/// One object in the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigRow {
    pub namespace: String,
    pub name: String,
    pub kind: ConfigKind,
    /// A Secret's `type`; empty for ConfigMaps.
    pub secret_type: String,
    pub keys: Vec<String>,
    pub bytes: usize,
    pub editable: Editable,
    /// Apps (Deployments and StatefulSets) whose pods read it.
    pub used_by: Vec<String>,
    /// When it last changed (the newest write in its `managedFields`, else its creation).
    pub changed: Option<DateTime<Utc>>,
}

/// One key of an object as the editor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    pub key: String,
    /// The value; `None` for a Secret's (until revealed) and for bytes that are not UTF-8.
    pub value: Option<String>,
    pub bytes: usize,
    /// Not UTF-8 (a ConfigMap's `binaryData`, a Secret's binary value): kept as it is.
    pub binary: bool,
}

/// One line of a diff: `'+'`, `'-'` or `' '`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub sign: char,
    pub text: String,
}

/// What one change did to one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChange {
    pub key: String,
    /// `added`, `removed` or `changed`.
    pub what: String,
    /// The lines that differ, with a little context (ConfigMaps only; empty for Secrets).
    pub diff: Vec<DiffLine>,
}

/// One change in an object's history, newest first in [`ConfigDetail::history`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    /// The user; empty for a change made outside Wharf (kubectl, another tool).
    pub by: String,
    /// `created`, `changed`, `applied` (the apps were rolled), or `outside` (changed
    /// outside Wharf since its last recorded change: who and what are not known).
    pub action: String,
    pub changes: Vec<KeyChange>,
    /// For `applied`: the apps rolled.
    pub apps: Vec<String>,
}

/// An object opened in the editor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigDetail {
    pub row: ConfigRow,
    pub entries: Vec<ConfigEntry>,
    /// What a save sends back, so a change made meanwhile is not overwritten.
    pub resource_version: String,
    pub history: Vec<HistoryEntry>,
}

/// A new object or a changed one, as the editor sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigForm {
    pub namespace: String,
    pub name: String,
    pub kind: ConfigKind,
    /// The keys the object will have. A `None` value keeps the key's current value (a
    /// Secret's hidden value, a binary one); a new key needs one.
    pub entries: Vec<(String, Option<String>)>,
    /// `None`: create. Otherwise the version the editor opened.
    pub resource_version: Option<String>,
}

/// How an app uses a config object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigUse {
    pub kind: ConfigKind,
    pub name: String,
    /// `files at /etc/config`, `env FOO`, `all keys as env`, as sentences.
    pub how: Vec<Text>,
    pub changed: Option<DateTime<Utc>>,
    /// It changed after the app's oldest running pod started: that pod still has the old
    /// content in its environment (files follow within a minute; env never does).
    pub changed_after_start: bool,
}

/// Whether `name` is a DNS-1123 subdomain, as ConfigMap and Secret names must be.
pub fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// Whether `key` may name a ConfigMap's or Secret's key (and so a file in a mounted folder).
pub fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The form's problems, each a sentence in both languages; empty when there is none. The
/// size limit counts what is sent; the server counts the kept values too.
pub fn check_form(form: &ConfigForm) -> Vec<Text> {
    let mut errors = Vec::new();
    if !is_object_name(&form.name) {
        errors.push(Text::new(
            format!("name '{}': lower-case letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit", form.name),
            format!("名称“{}”:只能包含小写字母、数字、“-”和“.”,最多 253 个字符,且以字母或数字开头和结尾", form.name),
        ));
    }
    if form.entries.is_empty() {
        errors.push(text!("at least one key is needed", "至少需要一个键"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (key, value) in &form.entries {
        if !is_key(key) {
            errors.push(Text::new(
                format!("key '{key}': letters, digits, '-', '_' and '.' only (it becomes a file name), at most 253 characters"),
                format!("键“{key}”:只能包含字母、数字、“-”“_”和“.”(它会成为文件名),最多 253 个字符"),
            ));
        } else if !seen.insert(key.as_str()) {
            errors.push(Text::new(
                format!("key '{key}' appears twice"),
                format!("键“{key}”重复出现"),
            ));
        }
        if value.is_none() && form.resource_version.is_none() {
            errors.push(Text::new(
                format!("key '{key}': a value is needed"),
                format!("键“{key}”:需要填写值"),
            ));
        }
    }
    let sent = sent_bytes(form);
    if sent > MAX_BYTES {
        errors.push(too_big(sent));
    }
    errors
}

/// Bytes of the keys and values a form sends.
pub fn sent_bytes(form: &ConfigForm) -> usize {
    form.entries
        .iter()
        .map(|(k, v)| k.len() + v.as_ref().map_or(0, String::len))
        .sum()
}

pub fn too_big(bytes: usize) -> Text {
    Text::new(
        format!(
            "the data is {} KiB; a ConfigMap or Secret holds at most 1024 KiB (1 MiB) — put large files in a volume instead",
            bytes.div_ceil(1024)
        ),
        format!(
            "数据为 {} KiB;ConfigMap 或 Secret 最多 1024 KiB(1 MiB),大文件请放在存储卷中",
            bytes.div_ceil(1024)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(entries: &[(&str, Option<&str>)]) -> ConfigForm {
        ConfigForm {
            namespace: "alpha".into(),
            name: "orders-config".into(),
            kind: ConfigKind::ConfigMap,
            entries: entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            resource_version: None,
        }
    }

    #[test]
    fn names_and_keys() {
        assert!(is_object_name("orders-config"));
        assert!(is_object_name("a.b-c"));
        for bad in ["", "Orders", "-a", "a-", "a..b", "a_b", &"a".repeat(254)] {
            assert!(!is_object_name(bad), "{bad}");
        }
        assert!(is_key("application.properties"));
        assert!(is_key("LOG_LEVEL"));
        for bad in ["", ".", "..", "a/b", "a b", &"k".repeat(254)] {
            assert!(!is_key(bad), "{bad}");
        }
    }

    #[test]
    fn a_good_form_passes() {
        assert!(check_form(&form(&[("app.properties", Some("a=1"))])).is_empty());
    }

    #[test]
    fn each_mistake_is_named() {
        let e = check_form(&form(&[]));
        assert_eq!(e.len(), 1);
        assert!(e[0].en.contains("at least one key"));
        let e = check_form(&form(&[
            ("a/b", Some("x")),
            ("k", Some("1")),
            ("k", Some("2")),
        ]));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].en.contains("'a/b'") && e[1].en.contains("twice"));
        let e = check_form(&form(&[("k", None)]));
        assert!(e[0].en.contains("a value is needed"));
        let mut kept = form(&[("k", None)]);
        kept.resource_version = Some("5".into());
        assert!(check_form(&kept).is_empty());
    }

    #[test]
    fn over_one_mebibyte_is_refused() {
        let big = "x".repeat(MAX_BYTES);
        let e = check_form(&form(&[("big", Some(&big))]));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].en.contains("1025 KiB") && e[0].zh.contains("1 MiB"),
            "{e:?}"
        );
        let fits = "x".repeat(MAX_BYTES - 3);
        assert!(check_form(&form(&[("big", Some(&fits))])).is_empty());
    }
}
