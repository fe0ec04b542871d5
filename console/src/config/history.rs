//! Each config object's history of changes, kept beside it in a ConfigMap of its namespace
//! (`wharf-history-<kind>-<name>`, labelled [`HISTORY_OF`], hidden from the config list):
//! who changed what and when. A ConfigMap's record keeps its data after the change, so any
//! two neighbours give a diff; a Secret's record keeps only the names of the keys that
//! changed — never a value. The newest [`KEEP`] records are kept, fewer when their data would
//! not fit in one ConfigMap.
//!
//! A change made outside Wharf (kubectl, another tool) leaves no record; the object's
//! `resourceVersion` then differs from the last record's, which the editor shows as a change
//! by someone unknown.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use similar::{ChangeTag, TextDiff};
use wharf_api::config::{ConfigKind, DiffLine, HistoryEntry, KeyChange};
use wharf_api::error::AppError;

/// The label of a history ConfigMap: `<kind>.<name>` of the object it records.
pub const HISTORY_OF: &str = "wharf.dev/history-of";
/// Records kept per object.
pub const KEEP: usize = 30;
/// The most the records may take (a ConfigMap holds 1 MiB).
const MAX_JSON: usize = 900 * 1024;
const KEY: &str = "history.json";
/// Lines of context around each change in a diff.
const CONTEXT: usize = 2;

/// One recorded change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: DateTime<Utc>,
    pub by: String,
    /// `created`, `changed` or `applied`.
    pub action: String,
    /// The object's `resourceVersion` after the change.
    pub resource_version: String,
    /// `(key, added|removed|changed)`.
    #[serde(default)]
    pub keys: Vec<(String, String)>,
    /// A ConfigMap's text data after the change; `None` for Secrets (and when trimmed).
    #[serde(default)]
    pub data: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub apps: Vec<String>,
}

/// The name of the history ConfigMap of `name` (hashed when it would be too long).
pub fn history_name(kind: ConfigKind, name: &str) -> String {
    let prefix = match kind {
        ConfigKind::ConfigMap => "wharf-history-configmap-",
        ConfigKind::Secret => "wharf-history-secret-",
    };
    if prefix.len() + name.len() <= 253 {
        format!("{prefix}{name}")
    } else {
        let hash = short_hash(name, 8);
        format!("{prefix}{}-{hash}", &name[..200])
    }
}

/// The first `bytes` bytes of the SHA-256 of `s`, in hex.
fn short_hash(s: &str, bytes: usize) -> String {
    Sha256::digest(s.as_bytes())[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn label(kind: ConfigKind, name: &str) -> String {
    // label values hold 63 characters: a long name is known by its hash
    let v = format!("{}.{name}", kind.as_str().to_lowercase());
    if v.len() <= 63 {
        v
    } else {
        short_hash(&v, 16)
    }
}

/// The keys that differ between two versions, as `(key, what)`.
pub fn key_changes<V: PartialEq>(
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in new {
        match old.get(k) {
            None => out.push((k.clone(), "added".to_string())),
            Some(o) if o != v => out.push((k.clone(), "changed".to_string())),
            Some(_) => {}
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push((k.clone(), "removed".to_string()));
    }
    out.sort();
    out
}

/// The lines that differ between `old` and `new`, with [`CONTEXT`] lines around them.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(CONTEXT) {
        if !out.is_empty() {
            out.push(DiffLine {
                sign: ' ',
                text: "…".into(),
            });
        }
        for op in group {
            for change in diff.iter_changes(&op) {
                let sign = match change.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                out.push(DiffLine {
                    sign,
                    text: change.value().trim_end_matches('\n').to_string(),
                });
            }
        }
    }
    out
}

/// What one record changed, with diffs where both sides' data are known.
fn changes_of(
    keys: &[(String, String)],
    before: Option<&BTreeMap<String, String>>,
    after: Option<&BTreeMap<String, String>>,
) -> Vec<KeyChange> {
    keys.iter()
        .map(|(key, what)| {
            let diff = match (before, after) {
                (Some(b), Some(a)) => diff_lines(
                    b.get(key).map_or("", String::as_str),
                    a.get(key).map_or("", String::as_str),
                ),
                _ => Vec::new(),
            };
            KeyChange {
                key: key.clone(),
                what: what.clone(),
                diff,
            }
        })
        .collect()
}

/// The history as the editor shows it, newest first: the records, and before them a change
/// made outside Wharf when `current_version` is not the last record's.
/// `current`: the object's text data now (ConfigMaps; empty for Secrets).
pub fn entries(
    records: &[Record],
    current_version: &str,
    current: &BTreeMap<String, String>,
    changed: Option<DateTime<Utc>>,
    kind: ConfigKind,
) -> Vec<HistoryEntry> {
    let mut out = Vec::new();
    let mut before: Option<BTreeMap<String, String>> = Some(BTreeMap::new());
    for r in records {
        let after = if r.action == "applied" {
            before.clone()
        } else {
            r.data.clone()
        };
        let before_now = before.as_ref();
        out.push(HistoryEntry {
            at: r.at,
            by: r.by.clone(),
            action: r.action.clone(),
            changes: changes_of(&r.keys, before_now, after.as_ref()),
            apps: r.apps.clone(),
        });
        before = after;
    }
    let found = Found {
        resource_version: current_version.to_string(),
        changed,
        data: (kind == ConfigKind::ConfigMap).then(|| current.clone()),
    };
    if let Some(r) = outside(records, &found) {
        out.push(HistoryEntry {
            at: r.at,
            by: r.by,
            action: r.action,
            changes: changes_of(&r.keys, before.as_ref(), r.data.as_ref()),
            apps: Vec::new(),
        });
    }
    out.reverse();
    out
}

/// The object's records, oldest first (none when it has no history yet).
pub async fn read(
    api: &Api<ConfigMap>,
    kind: ConfigKind,
    name: &str,
) -> Result<Vec<Record>, AppError> {
    let Some(cm) = api.get_opt(&history_name(kind, name)).await? else {
        return Ok(Vec::new());
    };
    Ok(cm
        .data
        .as_ref()
        .and_then(|d| d.get(KEY))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default())
}

/// Keeps the newest records that fit: at most [`KEEP`], and the oldest records' data dropped
/// (then the records themselves) until the JSON fits in one ConfigMap.
fn trimmed(mut records: Vec<Record>) -> String {
    if records.len() > KEEP {
        records.drain(..records.len() - KEEP);
    }
    loop {
        let json = serde_json::to_string(&records).expect("records serialize");
        if json.len() <= MAX_JSON || records.is_empty() {
            return json;
        }
        let several = records.len() > 1;
        match records.iter_mut().find(|r| r.data.is_some()) {
            Some(oldest_with_data) if several => oldest_with_data.data = None,
            _ => {
                records.remove(0);
            }
        }
    }
}

/// The object as Wharf found it just before a change: a version no record has means it was
/// changed outside Wharf since the last record.
pub struct Found {
    pub resource_version: String,
    pub changed: Option<DateTime<Utc>>,
    /// A ConfigMap's text data; `None` for Secrets.
    pub data: Option<BTreeMap<String, String>>,
}

/// The record of a change made outside Wharf, when `found` is not what the last record says.
fn outside(records: &[Record], found: &Found) -> Option<Record> {
    let last = records.iter().rev().find(|r| r.action != "applied")?;
    if last.resource_version == found.resource_version {
        return None;
    }
    let keys = match (&last.data, &found.data) {
        (Some(before), Some(now)) => key_changes(before, now),
        _ => Vec::new(),
    };
    Some(Record {
        at: found.changed.unwrap_or_else(Utc::now),
        by: String::new(),
        action: "outside".into(),
        resource_version: found.resource_version.clone(),
        keys,
        data: found.data.clone(),
        apps: Vec::new(),
    })
}

/// Adds `record` to the object's history (creating the history ConfigMap on the first), after
/// a record of a change made outside Wharf when `found` shows one; read again and retried
/// when another replica wrote meanwhile.
pub async fn append(
    api: &Api<ConfigMap>,
    kind: ConfigKind,
    name: &str,
    found: Option<&Found>,
    record: Record,
) -> Result<(), AppError> {
    let history = history_name(kind, name);
    for _ in 0..5 {
        let existing = api.get_opt(&history).await?;
        let mut records: Vec<Record> = existing
            .as_ref()
            .and_then(|cm| cm.data.as_ref()?.get(KEY))
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        if let Some(r) = found.and_then(|f| outside(&records, f)) {
            records.push(r);
        }
        records.push(record.clone());
        let data = BTreeMap::from([(KEY.to_string(), trimmed(records))]);
        let result = match existing {
            Some(mut cm) => {
                cm.data = Some(data);
                api.replace(&history, &PostParams::default(), &cm)
                    .await
                    .map(drop)
            }
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(history.clone()),
                        labels: Some(BTreeMap::from([
                            (HISTORY_OF.to_string(), label(kind, name)),
                            (
                                crate::workloads::MANAGED_BY.0.to_string(),
                                crate::workloads::MANAGED_BY.1.to_string(),
                            ),
                        ])),
                        ..ObjectMeta::default()
                    },
                    data: Some(data),
                    ..ConfigMap::default()
                };
                api.create(&PostParams::default(), &cm).await.map(drop)
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict(wharf_api::text!(
        "the history of {name} kept changing; this change is in the audit log",
        "{name} 的历史记录持续被修改;本次修改已记入审计日志"
    )))
}

/// Deletes the object's history (with the object).
pub async fn forget(api: &Api<ConfigMap>, kind: ConfigKind, name: &str) -> Result<(), AppError> {
    match api
        .delete(&history_name(kind, name), &Default::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn record(
        action: &str,
        rv: &str,
        keys: &[(&str, &str)],
        data: Option<&[(&str, &str)]>,
    ) -> Record {
        Record {
            at: Utc::now(),
            by: "alice".into(),
            action: action.into(),
            resource_version: rv.into(),
            keys: keys
                .iter()
                .map(|(k, w)| (k.to_string(), w.to_string()))
                .collect(),
            data: data.map(map),
            apps: Vec::new(),
        }
    }

    #[test]
    fn names_fit_and_long_ones_are_hashed() {
        assert_eq!(
            history_name(ConfigKind::ConfigMap, "orders"),
            "wharf-history-configmap-orders"
        );
        let long = "a".repeat(253);
        let n = history_name(ConfigKind::Secret, &long);
        assert!(
            n.len() <= 253 && n.starts_with("wharf-history-secret-a"),
            "{n}"
        );
        assert_ne!(n, history_name(ConfigKind::Secret, &"a".repeat(252)));
        assert!(label(ConfigKind::ConfigMap, &long).len() <= 63);
    }

    #[test]
    fn key_changes_name_added_removed_and_changed() {
        let old = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let new = map(&[("a", "1"), ("b", "20"), ("d", "4")]);
        assert_eq!(
            key_changes(&old, &new),
            vec![
                ("b".to_string(), "changed".to_string()),
                ("c".to_string(), "removed".to_string()),
                ("d".to_string(), "added".to_string()),
            ]
        );
    }

    #[test]
    fn a_diff_shows_the_changed_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let d = diff_lines(old, new);
        let shown: Vec<String> = d.iter().map(|l| format!("{}{}", l.sign, l.text)).collect();
        assert_eq!(shown, [" c", " d", "-e", "+E", " f", " g"]);
    }

    #[test]
    fn history_diffs_neighbours_and_notices_outside_changes() {
        let records = vec![
            record(
                "created",
                "10",
                &[("app.properties", "added")],
                Some(&[("app.properties", "level=info\n")]),
            ),
            record(
                "changed",
                "12",
                &[("app.properties", "changed")],
                Some(&[("app.properties", "level=debug\n")]),
            ),
        ];
        let now = map(&[("app.properties", "level=debug\n"), ("extra", "x")]);
        let h = entries(&records, "15", &now, None, ConfigKind::ConfigMap);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].action, "outside");
        assert_eq!(h[0].by, "");
        assert_eq!(h[0].changes[0].key, "extra");
        assert_eq!(h[1].action, "changed");
        let lines: Vec<String> = h[1].changes[0]
            .diff
            .iter()
            .map(|l| format!("{}{}", l.sign, l.text))
            .collect();
        assert_eq!(lines, ["-level=info", "+level=debug"]);
        assert_eq!(h[2].changes[0].diff[0].text, "level=info");
        // the last record's version is the object's: nothing happened outside
        assert_eq!(
            entries(&records, "12", &now, None, ConfigKind::ConfigMap).len(),
            2
        );
    }

    #[test]
    fn a_change_found_outside_wharf_is_recorded_before_the_next() {
        let records = vec![record(
            "created",
            "10",
            &[("a", "added")],
            Some(&[("a", "1")]),
        )];
        let found = Found {
            resource_version: "11".into(),
            changed: None,
            data: Some(map(&[("a", "2")])),
        };
        let r = outside(&records, &found).unwrap();
        assert_eq!((r.action.as_str(), r.by.as_str()), ("outside", ""));
        assert_eq!(r.keys, vec![("a".to_string(), "changed".to_string())]);
        let same = Found {
            resource_version: "10".into(),
            changed: None,
            data: None,
        };
        assert!(outside(&records, &same).is_none());
        assert!(outside(&[], &found).is_none());
    }

    #[test]
    fn secrets_record_keys_only() {
        let records = vec![record("changed", "3", &[("password", "changed")], None)];
        let h = entries(&records, "3", &BTreeMap::new(), None, ConfigKind::Secret);
        assert_eq!(h[0].changes[0].what, "changed");
        assert!(h[0].changes[0].diff.is_empty());
    }

    #[test]
    fn trimming_keeps_the_newest_and_fits() {
        let many: Vec<Record> = (0..40)
            .map(|i| record("changed", &i.to_string(), &[], None))
            .collect();
        let kept: Vec<Record> = serde_json::from_str(&trimmed(many)).unwrap();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept.last().unwrap().resource_version, "39");
        let big = "x".repeat(400 * 1024);
        let heavy: Vec<Record> = (0..3)
            .map(|i| record("changed", &i.to_string(), &[], Some(&[("k", big.as_str())])))
            .collect();
        let json = trimmed(heavy);
        assert!(json.len() <= MAX_JSON);
        let kept: Vec<Record> = serde_json::from_str(&json).unwrap();
        assert_eq!(kept.len(), 3);
        assert!(kept[0].data.is_none() && kept[2].data.is_some());
    }
}
