//! What names a stream: `(namespace, pod, container)`, plus the pod's labels
//! kept for selection, and the selector a query uses to pick streams.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The pod's labels, sorted so that they compare and print stably.
pub type Labels = BTreeMap<String, String>;

/// One container's log: `namespace/pod/container`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl StreamKey {
    pub fn new(
        namespace: impl Into<String>,
        pod: impl Into<String>,
        container: impl Into<String>,
    ) -> Self {
        StreamKey {
            namespace: namespace.into(),
            pod: pod.into(),
            container: container.into(),
        }
    }

    /// Every part must be non-empty and free of `/` and control characters:
    /// the key is printed as `ns/pod/container`.
    pub fn validate(&self) -> Result<()> {
        for part in [&self.namespace, &self.pod, &self.container] {
            if part.is_empty() || part.contains('/') || part.chars().any(char::is_control) {
                return Err(Error::InvalidKey(self.to_string()));
            }
        }
        Ok(())
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.pod, self.container)
    }
}

/// Which streams a query or a tail reads. Every field narrows the set; an
/// empty selector selects every stream.
///
/// NB: `namespaces: None` means *all* namespaces. The server must always
/// fill it from the user's tenant scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSelector {
    pub namespaces: Option<Vec<String>>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub labels: LabelSelector,
}

impl StreamSelector {
    /// All streams of the given namespaces.
    pub fn namespaces<I, S>(namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        StreamSelector {
            namespaces: Some(namespaces.into_iter().map(Into::into).collect()),
            ..Default::default()
        }
    }

    /// Exactly one stream.
    pub fn stream(key: &StreamKey) -> Self {
        StreamSelector {
            namespaces: Some(vec![key.namespace.clone()]),
            pod: Some(key.pod.clone()),
            container: Some(key.container.clone()),
            labels: LabelSelector::default(),
        }
    }

    pub fn with_pod(mut self, pod: impl Into<String>) -> Self {
        self.pod = Some(pod.into());
        self
    }

    pub fn with_container(mut self, container: impl Into<String>) -> Self {
        self.container = Some(container.into());
        self
    }

    pub fn with_labels(mut self, labels: LabelSelector) -> Self {
        self.labels = labels;
        self
    }

    pub fn matches(&self, key: &StreamKey, labels: &Labels) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|ns| ns.contains(&key.namespace))
            && self.pod.as_ref().is_none_or(|p| *p == key.pod)
            && self.container.as_ref().is_none_or(|c| *c == key.container)
            && self.labels.matches(labels)
    }
}

/// A Kubernetes-style label selector: `app=web,tier!=db,canary,!legacy,env in (a,b),env notin (c)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelSelector {
    /// Equality requirements only: every pair must be present.
    pub fn equals<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        LabelSelector {
            requirements: pairs
                .into_iter()
                .map(|(k, v)| Requirement::In(k.into(), vec![v.into()]))
                .collect(),
        }
    }

    pub fn parse(selector: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidSelector {
            selector: selector.to_owned(),
            reason: reason.to_owned(),
        };
        let mut requirements = Vec::new();
        let mut rest = selector.trim();
        while !rest.is_empty() {
            // Split off one requirement at a top-level comma (not inside parentheses).
            let mut depth = 0;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let term = rest[..end].trim();
            rest = rest.get(end + 1..).unwrap_or("").trim();
            if term.is_empty() {
                return Err(bad("empty requirement"));
            }
            let valid_name = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            };
            let req = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotIn(k.trim().to_owned(), vec![v.trim().to_owned()])
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::In(k.trim().to_owned(), vec![v.trim().to_owned()])
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().to_owned())
            } else if let Some((k, set)) = split_set(term, " notin ") {
                Requirement::NotIn(k, set.ok_or_else(|| bad("expected (a,b) after notin"))?)
            } else if let Some((k, set)) = split_set(term, " in ") {
                Requirement::In(k, set.ok_or_else(|| bad("expected (a,b) after in"))?)
            } else {
                Requirement::Exists(term.to_owned())
            };
            let key = match &req {
                Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::NotExists(k) => k,
            };
            if !valid_name(key) {
                return Err(bad(
                    "label key must be non-empty and made of [A-Za-z0-9-_./]",
                ));
            }
            requirements.push(req);
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

fn split_set(term: &str, op: &str) -> Option<(String, Option<Vec<String>>)> {
    let (k, set) = term.split_once(op)?;
    let set = set.trim();
    let inner = set.strip_prefix('(').and_then(|s| s.strip_suffix(')'));
    Some((
        k.trim().to_owned(),
        inner.map(|s| s.split(',').map(|v| v.trim().to_owned()).collect()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_forms() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("canary", "")]);
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app=db", false),
            ("app!=db", true),
            ("canary", true),
            ("!canary", false),
            ("!legacy", true),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("app=web,tier notin (back),env notin (prod)", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&l),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn selector_errors() {
        for sel in ["=x", "a,,b", "tier in front", "bad key!x"] {
            assert!(
                matches!(
                    LabelSelector::parse(sel),
                    Err(Error::InvalidSelector { .. })
                ),
                "{sel}"
            );
        }
    }

    #[test]
    fn key_validation() {
        assert!(StreamKey::new("ns", "p", "c").validate().is_ok());
        assert!(StreamKey::new("ns", "p/x", "c").validate().is_err());
        assert!(StreamKey::new("", "p", "c").validate().is_err());
    }
}
