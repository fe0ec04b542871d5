//! Drift: the files on a node against the tree the agent rendered, as a sha
//! pair and a unified diff the console can show.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use similar::TextDiff;

use crate::render::tree_sha;

/// What differs between the expected and the actual tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub expected_sha: String,
    pub actual_sha: String,
    pub files: Vec<FileDrift>,
    /// Unified diff, `a/` = rendered, `b/` = on disk, 3 lines of context.
    pub diff: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDrift {
    pub path: PathBuf,
    pub change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Change {
    /// On disk only.
    Added,
    /// Rendered but missing on disk.
    Removed,
    Modified,
}

/// `None` when both trees hold the same files with the same bytes.
pub fn compare(
    expected: &BTreeMap<PathBuf, String>,
    actual: &BTreeMap<PathBuf, String>,
) -> Option<Drift> {
    if expected == actual {
        return None;
    }
    let empty = String::new();
    let mut files = Vec::new();
    let mut diff = String::new();
    let paths: BTreeSet<&PathBuf> = expected.keys().chain(actual.keys()).collect();
    for path in paths {
        let (e, a) = (expected.get(path), actual.get(path));
        let change = match (e, a) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(_), Some(_)) => Change::Modified,
            (Some(_), None) => Change::Removed,
            (None, Some(_)) => Change::Added,
            (None, None) => continue,
        };
        let name = path.display().to_string();
        let text = TextDiff::from_lines(e.unwrap_or(&empty), a.unwrap_or(&empty));
        let old = if e.is_some() {
            format!("a/{name}")
        } else {
            "/dev/null".into()
        };
        let new = if a.is_some() {
            format!("b/{name}")
        } else {
            "/dev/null".into()
        };
        diff.push_str(
            &text
                .unified_diff()
                .context_radius(3)
                .header(&old, &new)
                .to_string(),
        );
        files.push(FileDrift {
            path: path.clone(),
            change,
        });
    }
    Some(Drift {
        expected_sha: tree_sha(expected),
        actual_sha: tree_sha(actual),
        files,
        diff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_a_hand_edit_as_a_unified_diff() {
        let mut a = BTreeMap::new();
        a.insert(PathBuf::from("nginx.conf"), "a\nb\nc\n".to_string());
        a.insert(PathBuf::from("x.conf"), "x\n".to_string());
        let mut b = a.clone();
        b.insert(PathBuf::from("nginx.conf"), "a\nB\nc\n".to_string());
        b.insert(PathBuf::from("extra.conf"), "e\n".to_string());
        assert!(compare(&a, &a).is_none());
        let d = compare(&a, &b).unwrap();
        assert_ne!(d.expected_sha, d.actual_sha);
        assert_eq!(d.files.len(), 2);
        assert!(
            d.diff.contains("--- a/nginx.conf\n+++ b/nginx.conf\n"),
            "{}",
            d.diff
        );
        assert!(d.diff.contains("-b\n+B\n"));
        assert!(d.diff.contains("--- /dev/null\n+++ b/extra.conf\n"));
    }
}
