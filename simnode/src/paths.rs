//! Container paths the node knows, and where they are on the host.
//!
//! A container that runs as a local process sees the host's file system, so a path the
//! pod spec gives meaning to inside the container must be translated: the termination
//! message path (`/dev/termination-log` → `<container dir>/termination-log`), each volume
//! mount (`/workspace` → `<container dir>/workspace`, the link to the pod's shared
//! volume) and the usual paths of the builder stand-ins (`/kaniko/executor` → the
//! stand-in, see [`crate::shims`]). [`PathMap::rewrite`] replaces them wherever they occur
//! as a whole path in an argv element or an env value — also inside `sh -c` scripts and
//! URLs like `dir:///workspace/src` — and leaves other text alone (`/workspaces`,
//! `https://host/workspace`).
//!
//! The process also gets `WHARF_SIM_ROOT=<container dir>`, so the stand-ins can find
//! an absolute path built at run time (`$CTX/Dockerfile`) under the container.

use std::path::{Path, PathBuf};

use crate::plan::ContainerPlan;
use crate::{shims, termination};

/// Env var naming the container's directory (its "root") for the stand-ins.
pub const ENV_ROOT: &str = "WHARF_SIM_ROOT";

/// Container path → host path, longest container path first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathMap {
    entries: Vec<(String, String)>,
}

impl PathMap {
    /// The paths of one container: its termination message path, its volume mounts and
    /// (with the stand-ins installed in `bin`) the tools' usual paths in their images.
    pub fn for_container(dir: &Path, plan: &ContainerPlan, bin: Option<&Path>) -> Self {
        let mut map = PathMap::default();
        if let Some(bin) = bin {
            for (path, name) in shims::IMAGE_PATHS {
                map.add(path, &bin.join(name));
            }
        }
        for m in &plan.mounts {
            map.add(&m.path, &dir.join(m.path.trim_start_matches('/')));
        }
        map.add(&plan.termination_message_path, &termination::file_of(dir));
        map
    }

    /// Maps `from` (an absolute container path) to `to`. Relative, root or `..` paths are ignored.
    pub fn add(&mut self, from: &str, to: &Path) {
        let from = from.trim_end_matches('/');
        if !from.starts_with('/') || from.split('/').any(|p| p == "..") {
            return;
        }
        self.entries.retain(|(f, _)| f != from);
        self.entries
            .push((from.to_string(), to.display().to_string()));
        self.entries
            .sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    }

    /// The host path of a container path, if mapped (also for paths below a mapped one).
    pub fn host_path(&self, path: &str) -> Option<PathBuf> {
        self.entries.iter().find_map(|(from, to)| {
            let rest = path.strip_prefix(from.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| PathBuf::from(format!("{to}{rest}")))
        })
    }

    /// `s` with every mapped path that stands as a whole path replaced (see the module docs).
    pub fn rewrite(&self, s: &str) -> String {
        if self.entries.is_empty() || !s.contains('/') {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        'scan: while i < s.len() {
            if s.as_bytes()[i] == b'/' && starts_path(&s[..i]) {
                for (from, to) in &self.entries {
                    if s[i..].starts_with(from.as_str()) && ends_path(&s[i + from.len()..]) {
                        out.push_str(to);
                        i += from.len();
                        continue 'scan;
                    }
                }
            }
            let ch = s[i..].chars().next().unwrap_or_default();
            out.push(ch);
            i += ch.len_utf8().max(1);
        }
        out
    }
}

/// Whether a path may start right after `before`: at the start, after a separator a shell
/// or a flag uses, or right after `scheme://` (`dir:///workspace`).
fn starts_path(before: &str) -> bool {
    before.ends_with("://")
        || before.chars().next_back().is_none_or(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '=' | '\'' | '"' | ':' | ';' | '(' | '`' | '>' | '<' | '|' | '&' | ',' | '{'
                )
        })
}

/// Whether a path may end before `after`: a name character would make it another path.
fn ends_path(after: &str) -> bool {
    after
        .chars()
        .next()
        .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> PathMap {
        let mut m = PathMap::default();
        m.add("/dev/termination-log", Path::new("/s/p/c/termination-log"));
        m.add("/workspace", Path::new("/s/p/c/workspace"));
        m.add("/workspace/cache/", Path::new("/s/p/c/workspace/cache"));
        m.add("relative", Path::new("/nope"));
        m
    }

    #[test]
    fn whole_paths_are_rewritten_anywhere() {
        let m = map();
        assert_eq!(
            m.rewrite("git rev-parse HEAD > /dev/termination-log"),
            "git rev-parse HEAD > /s/p/c/termination-log"
        );
        assert_eq!(
            m.rewrite("--context=dir:///workspace/src"),
            "--context=dir:///s/p/c/workspace/src"
        );
        assert_eq!(
            m.rewrite("cd /workspace && ls"),
            "cd /s/p/c/workspace && ls"
        );
        assert_eq!(m.rewrite("'/workspace'"), "'/s/p/c/workspace'");
        assert_eq!(m.rewrite("/workspace/cache/x"), "/s/p/c/workspace/cache/x");
    }

    #[test]
    fn other_text_is_left_alone() {
        let m = map();
        for s in [
            "/workspaces/x",
            "https://host/workspace/x",
            "/data/workspace",
            "relative/x",
            "/dev/termination-log2",
            "ünïcode /workspac",
        ] {
            assert_eq!(m.rewrite(s), s);
        }
        assert_eq!(
            m.host_path("/workspace/src"),
            Some("/s/p/c/workspace/src".into())
        );
        assert_eq!(m.host_path("/workspaces"), None);
    }
}
