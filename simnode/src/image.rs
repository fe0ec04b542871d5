//! Images built by the demo cluster's pipelines, run for real.
//!
//! The executor stand-in (see [`crate::shims`]) keeps what it "built" in the node's images
//! folder ([`crate::NodeConfig::images_dir`], given to every process container as
//! [`ENV_IMAGES`]): `<images>/sha256-<digest>/Dockerfile` and `…/context/`. A long-running
//! container whose image reference pins such a digest (`…/site:build-1@sha256:<64 hex>`,
//! [`stored`]) and whose Dockerfile is labelled as built from an uploaded artifact
//! ([`ARTIFACT_LABEL`]: the demo's builds from git make up their outputs) is a *built
//! image*: instead of a simulated app it runs the Dockerfile's start command as a local
//! process, with the context's files where the Dockerfile puts them.
//!
//! The Dockerfile is read, not built ([`parse`]); this subset is understood:
//!
//! - `FROM` starts a stage; only the last stage runs (`FROM <earlier stage>` inherits it).
//!   The base image itself is not there: its programs are the host's (`python3` is
//!   `/usr/bin/python3`), so an image runs only what the host has;
//! - `WORKDIR`, `ENV` (`K=V …` and `K V`), `ARG` defaults, `SHELL`, with `$VAR`, `${VAR}`,
//!   `${VAR:-word}` and `${VAR:+word}` substituted as Docker does (the base image's
//!   variables are the node's defaults: `PATH`, `HOME`, `HOSTNAME`);
//! - `COPY`/`ADD` of context files, folders and globs (`*`, `?`, `[…]`) to a destination
//!   (relative to the `WORKDIR` then); a folder's content is copied, as Docker does.
//!   `--chown`, `--chmod`, `--link` are accepted and ignored; `--from=`, URLs and other
//!   flags are refused, and the container fails to start with that message;
//! - `CMD` and `ENTRYPOINT` in exec (JSON) and shell forms; with Kubernetes' rule, the
//!   pod's `command` replaces `ENTRYPOINT` and its `args` replace `CMD` ([`ImageConfig::argv`]);
//! - `EXPOSE` and `USER` are kept for information, `RUN` is skipped (it was the build's
//!   job: its effects are not there), `LABEL`, `VOLUME`, `HEALTHCHECK`, `STOPSIGNAL`,
//!   `ONBUILD`, `MAINTAINER` are ignored. `ADD` does not unpack archives, `.dockerignore`
//!   and parser directives (`# escape=`) are not read, heredocs are not supported.
//!
//! Each instance of the container gets a fresh copy of the image's files, its "rootfs"
//! (`<container dir>/rootfs/`, [`build_rootfs`]). Under bubblewrap the rootfs' top-level
//! entries (`/app`, `/srv`, …) are bound read-write at their paths, so the process sees
//! `/app/index.html` where the image has it; unconfined, the image's paths (each
//! `WORKDIR` and `COPY` destination) are rewritten in argv and env to the rootfs (see
//! [`crate::paths`]) and the process starts in the rootfs' working directory. Either way
//! the host's system folders stay what they are: an image may not put files under
//! [`SYSTEM_DIRS`] (`/usr`, `/etc`, `/tmp`, …) — such a Dockerfile fails with a message
//! saying so. The `USER` is not switched to. Exec sessions see the image's files at their
//! paths under bubblewrap; unconfined, only their argv is rewritten with the container's
//! usual paths (mounts, termination log), not the image's.
//!
//! The process gets the node's environment for the container (see [`crate::process`]),
//! overridden by the Dockerfile's `ENV`, then `POD_IP`, then the pod's `env`/`envFrom`
//! (which win). Processes share the host's network and a pod IP is a loopback address,
//! so the app must listen on `${POD_IP:-0.0.0.0}`; the node serves none of its ports.
//! The container is Ready once each declared TCP `containerPort` accepts a connection on
//! the pod IP (polled every 100 ms, after a readiness probe's `initialDelaySeconds`), and
//! stays Ready until the process exits: the stand-in for readiness probes, which are not
//! run. Build args given to the executor are not stored: `ARG`s have their defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Env var naming the node's images folder, for the executor stand-in.
pub const ENV_IMAGES: &str = "WHARF_SIM_IMAGES";

/// Folders of the host a built image cannot put files in (its programs and libraries
/// are the host's, and `/tmp` is the container's own).
pub const SYSTEM_DIRS: [&str; 12] = [
    "usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "proc", "dev", "sys", "tmp",
];

/// The `<64 hex>` of an image reference that pins `@sha256:<64 hex>`.
pub fn digest_of(image: &str) -> Option<&str> {
    let (_, hex) = image.rsplit_once("@sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The label of an image built from a file uploaded to Wharf (Wharf's Dockerfile for an
/// uploaded artifact sets it): only such images run for real.
///
/// NB: the demo's builds from git run the user's build command on this host, where no
/// compiler or Maven is, so what they put in an image is made up (`echo jar > app.jar`); an
/// uploaded artifact is the user's own files, which the image really runs. Images built
/// from git stay simulated apps, as before.
pub const ARTIFACT_LABEL: &str = "dev.wharf.artifact.sha256";

/// The stored image of `image` in `images_dir` (`sha256-<hex>/`), if the reference pins a
/// digest, the executor stand-in stored that digest, and its Dockerfile carries
/// [`ARTIFACT_LABEL`].
pub fn stored(images_dir: &Path, image: &str) -> Option<PathBuf> {
    let hex = digest_of(image)?.to_ascii_lowercase();
    let dir = images_dir.join(format!("sha256-{hex}"));
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).ok()?;
    labels(&dockerfile)
        .iter()
        .any(|(k, _)| k == ARTIFACT_LABEL)
        .then_some(dir)
}

/// The `LABEL key=value …` pairs of a Dockerfile, in order (quotes removed, no
/// substitution).
pub fn labels(dockerfile: &str) -> Vec<(String, String)> {
    instructions(dockerfile)
        .into_iter()
        .filter_map(|(_, text)| {
            let (word, rest) = text.split_once(char::is_whitespace)?;
            word.eq_ignore_ascii_case("LABEL").then(|| rest.to_string())
        })
        .flat_map(|rest| words(&rest, &[]).unwrap_or_default())
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// One `COPY`/`ADD` of context files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStep {
    pub line: usize,
    /// Context paths or globs, relative to the context.
    pub sources: Vec<String>,
    /// Absolute, normalized (no trailing slash but for `/`).
    pub dest: String,
    /// The destination is a folder (it ended with `/` or `.`, or there are several sources).
    pub into_dir: bool,
}

/// What the node needs from a Dockerfile to run its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    /// Absolute; `/` when the Dockerfile has no `WORKDIR`.
    pub workdir: String,
    /// `ENV`, in order, substituted.
    pub env: Vec<(String, String)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub copies: Vec<CopyStep>,
    /// Every `WORKDIR` (absolute): the image has these folders.
    pub dirs: Vec<String>,
    /// `EXPOSE` words (informational).
    pub exposed: Vec<String>,
    /// `USER` (informational: not switched to).
    pub user: Option<String>,
    /// Instructions read but not acted on (`RUN …`), for the container's log.
    pub skipped: Vec<String>,
    shell: Vec<String>,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            workdir: "/".into(),
            env: Vec::new(),
            entrypoint: None,
            cmd: None,
            copies: Vec::new(),
            dirs: Vec::new(),
            exposed: Vec::new(),
            user: None,
            skipped: Vec::new(),
            shell: vec!["/bin/sh".into(), "-c".into()],
        }
    }
}

impl ImageConfig {
    /// The argv to run, with Kubernetes' rule: the pod's `command` (when not empty)
    /// replaces `ENTRYPOINT`, its `args` (when not empty) replace `CMD`; a `command` alone
    /// drops the image's `CMD`. `Err` (runc's words) when nothing is left to run.
    pub fn argv(&self, command: &[String], args: &[String]) -> Result<Vec<String>, String> {
        let entry: Vec<String> = if command.is_empty() {
            self.entrypoint.clone().unwrap_or_default()
        } else {
            command.to_vec()
        };
        let rest: Vec<String> = if !args.is_empty() {
            args.to_vec()
        } else if command.is_empty() {
            self.cmd.clone().unwrap_or_default()
        } else {
            Vec::new()
        };
        let argv: Vec<String> = entry.into_iter().chain(rest).collect();
        if argv.is_empty() {
            return Err("no command specified".into());
        }
        Ok(argv)
    }
}

/// Reads the subset of a Dockerfile described in the module docs. `base_env` stands for
/// the base image's variables in substitutions (it is not part of the result). `Err` is a
/// sentence naming the line.
pub fn parse(dockerfile: &str, base_env: &[(String, String)]) -> Result<ImageConfig, String> {
    let mut stages: HashMap<String, ImageConfig> = HashMap::new();
    let mut cfg: Option<ImageConfig> = None;
    let mut alias: Option<String> = None;
    // ARG defaults, for substitutions (before the stage's ENV).
    let mut args: Vec<(String, String)> = Vec::new();
    for (line, text) in instructions(dockerfile) {
        let (word, rest) = match text.split_once(char::is_whitespace) {
            Some((w, r)) => (w.to_ascii_uppercase(), r.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        let err = |msg: String| format!("Dockerfile line {line}: {word}: {msg}");
        let vars = scope(base_env, &args, cfg.as_ref());
        if word == "FROM" {
            let ws = words(rest, &vars).map_err(err)?;
            let ws: Vec<&String> = ws.iter().filter(|w| !w.starts_with("--")).collect();
            if let (Some(done), Some(name)) = (cfg.take(), alias.take()) {
                stages.insert(name, done);
            }
            let base = ws.first().map(|s| s.as_str()).unwrap_or_default();
            cfg = Some(stages.get(base).cloned().unwrap_or_default());
            alias = (ws.len() >= 3 && ws[1].eq_ignore_ascii_case("as")).then(|| ws[2].clone());
            continue;
        }
        if word == "ARG" {
            for w in words(rest, &vars).map_err(err)? {
                let (k, v) = w.split_once('=').unwrap_or((&w, ""));
                args.retain(|(ak, _)| ak != k);
                args.push((k.to_string(), v.to_string()));
            }
            continue;
        }
        let Some(c) = cfg.as_mut() else {
            return Err(err(
                "no build stage in current context (no FROM before)".into()
            ));
        };
        match word.as_str() {
            "WORKDIR" => {
                let dir = words(rest, &vars).map_err(err)?.join(" ");
                c.workdir = join_path(&c.workdir, &dir);
                c.dirs.push(c.workdir.clone());
            }
            "ENV" => {
                for (k, v) in env_pairs(rest, &vars).map_err(err)? {
                    c.env.retain(|(ek, _)| *ek != k);
                    c.env.push((k, v));
                }
            }
            "COPY" | "ADD" => {
                let step = copy_step(&word, rest, &vars, &c.workdir, line).map_err(err)?;
                c.copies.push(step);
            }
            "CMD" => c.cmd = Some(command_form(rest, &c.shell)),
            "ENTRYPOINT" => c.entrypoint = Some(command_form(rest, &c.shell)),
            "SHELL" => {
                c.shell = exec_form(rest)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| err("must be a JSON array of strings".into()))?;
            }
            "EXPOSE" => c.exposed.extend(words(rest, &vars).map_err(err)?),
            "USER" => c.user = words(rest, &vars).map_err(err)?.into_iter().next(),
            "RUN" => c.skipped.push(format!("RUN {rest}")),
            "LABEL" | "VOLUME" | "HEALTHCHECK" | "STOPSIGNAL" | "ONBUILD" | "MAINTAINER" => {}
            _ => return Err(err("unknown instruction".into())),
        }
    }
    cfg.ok_or_else(|| "the Dockerfile has no FROM: no build stage".to_string())
}

/// `(first line, instruction)` with continuations joined and comments dropped.
fn instructions(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim_end_matches('\r');
        let t = l.trim_start();
        if t.starts_with('#') || (cur.is_none() && t.is_empty()) {
            continue;
        }
        // NB: as Docker does, a continuation only removes the backslash and the newline.
        let (start, mut acc) = cur.take().unwrap_or((i + 1, String::new()));
        match l.trim_end().strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                cur = Some((start, acc));
            }
            None => {
                acc.push_str(l);
                out.push((start, acc.trim().to_string()));
            }
        }
    }
    if let Some((start, acc)) = cur {
        out.push((start, acc.trim().to_string()));
    }
    out
}

/// Variables for substitutions: the base image's, ARG defaults, the stage's ENV (later wins).
fn scope(
    base: &[(String, String)],
    args: &[(String, String)],
    cfg: Option<&ImageConfig>,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = base.to_vec();
    v.extend(args.iter().cloned());
    if let Some(c) = cfg {
        v.extend(c.env.iter().cloned());
    }
    v
}

fn lookup<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Splits `s` into words as Docker does for ENV, COPY, WORKDIR…: whitespace separates,
/// quotes group (no substitution inside single quotes), `\` escapes, `$VAR`, `${VAR}`,
/// `${VAR:-word}`, `${VAR:+word}` are substituted.
fn words(s: &str, vars: &[(String, String)]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let ch = chars[i];
        match (quote, ch) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
                continue;
            }
            (None, '\'') | (None, '"') => {
                quote = Some(ch);
                in_word = true;
                i += 1;
                continue;
            }
            (Some(q), c) if c == q => {
                quote = None;
                i += 1;
                continue;
            }
            (Some('\''), c) => {
                cur.push(c);
                i += 1;
                continue;
            }
            (_, '\\') if i + 1 < chars.len() => {
                cur.push(chars[i + 1]);
                in_word = true;
                i += 2;
                continue;
            }
            (_, '$') => {
                let (value, used) = substitute(&chars[i + 1..], vars)?;
                cur.push_str(&value);
                in_word = true;
                i += 1 + used;
                continue;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unmatched quote in {s:?}"));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// The value of the variable reference after a `$` and how many characters it took.
fn substitute(after: &[char], vars: &[(String, String)]) -> Result<(String, usize), String> {
    let is_name = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
    if after.first() == Some(&'{') {
        let end = after
            .iter()
            .position(|c| *c == '}')
            .ok_or("missing '}' in a variable reference")?;
        let inner: String = after[1..end].iter().collect();
        let value = match inner.split_once(":-") {
            Some((name, word)) => lookup(vars, name)
                .filter(|v| !v.is_empty())
                .map_or_else(|| word.to_string(), str::to_string),
            None => match inner.split_once(":+") {
                Some((name, word)) => {
                    if lookup(vars, name).is_some_and(|v| !v.is_empty()) {
                        word.to_string()
                    } else {
                        String::new()
                    }
                }
                None => lookup(vars, &inner).unwrap_or_default().to_string(),
            },
        };
        return Ok((value, end + 1));
    }
    let len = after.iter().take_while(|c| is_name(c)).count();
    if len == 0 {
        return Ok(("$".into(), 0));
    }
    let name: String = after[..len].iter().collect();
    Ok((lookup(vars, &name).unwrap_or_default().to_string(), len))
}

/// `ENV K=V K2="v 2"` or `ENV K some value`.
fn env_pairs(rest: &str, vars: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
    let first = rest.split(char::is_whitespace).next().unwrap_or_default();
    if first.contains('=') {
        // NB: as Docker does, the whole line is substituted against the variables set
        // before it (`ENV A=1 B=$A` gives B the older A).
        words(rest, vars)?
            .into_iter()
            .map(|w| {
                w.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| format!("{w:?} is not KEY=VALUE"))
            })
            .collect()
    } else {
        let value = rest[first.len()..].trim();
        if first.is_empty() {
            return Err("needs a name".into());
        }
        Ok(vec![(first.to_string(), words(value, vars)?.join(" "))])
    }
}

/// A JSON array of strings, if `rest` is one.
fn exec_form(rest: &str) -> Option<Vec<String>> {
    rest.trim_start()
        .starts_with('[')
        .then(|| serde_json::from_str::<Vec<String>>(rest.trim()).ok())
        .flatten()
}

/// CMD/ENTRYPOINT: exec form as it is, shell form under the stage's `SHELL`.
fn command_form(rest: &str, shell: &[String]) -> Vec<String> {
    match exec_form(rest) {
        Some(argv) => argv,
        None => shell
            .iter()
            .cloned()
            .chain(std::iter::once(rest.to_string()))
            .collect(),
    }
}

fn copy_step(
    word: &str,
    rest: &str,
    vars: &[(String, String)],
    workdir: &str,
    line: usize,
) -> Result<CopyStep, String> {
    let mut rest = rest.trim();
    let mut flags = Vec::new();
    while rest.starts_with("--") {
        let (flag, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        flags.push(flag.to_string());
        rest = tail.trim_start();
    }
    for flag in &flags {
        let name = flag.split('=').next().unwrap_or(flag);
        match name {
            "--chown" | "--chmod" | "--link" => {}
            "--checksum" | "--keep-git-dir" if word == "ADD" => {}
            "--from" => {
                return Err(format!(
                "{flag}: copying from another stage or image is not supported by the demo node, \
                     which runs the build context's files only"
            ))
            }
            _ => return Err(format!("flag {name} is not supported by the demo node")),
        }
    }
    let mut parts = match exec_form(rest) {
        Some(p) => p,
        None => words(rest, vars)?,
    };
    if parts.len() < 2 {
        return Err("needs at least one source and a destination".into());
    }
    let dest_raw = parts.pop().unwrap_or_default();
    for src in &parts {
        if src.contains("://") || src.starts_with("git@") {
            return Err(format!(
                "{src}: remote sources are not supported by the demo node, only the build context's files"
            ));
        }
        if normalize(src).starts_with("..") {
            return Err(format!("{src}: outside the build context"));
        }
    }
    let into_dir = dest_raw.ends_with('/')
        || dest_raw == "."
        || dest_raw.ends_with("/.")
        || parts.len() > 1
        || parts.iter().any(|s| has_glob(s));
    Ok(CopyStep {
        line,
        sources: parts,
        dest: join_path(workdir, &dest_raw),
        into_dir,
    })
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `rel` against `base` (absolute) when not absolute, normalized.
fn join_path(base: &str, rel: &str) -> String {
    let full = if rel.starts_with('/') {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    };
    // NB: `full` is absolute, so `normalize` drops `..` above the root.
    format!("/{}", normalize(&full))
}

/// `a/./b/../c/` → `a/c` (relative, no leading slash; leading `..` kept).
fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !p.starts_with('/') {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// Whether `name` matches the glob `pat` (`*`, `?`, `[…]`, `[!…]`; no `/` in either).
fn glob_match(pat: &[char], name: &[char]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|i| glob_match(&pat[1..], &name[i..])),
        Some('?') => !name.is_empty() && glob_match(&pat[1..], &name[1..]),
        Some('[') => {
            let Some(end) = pat.iter().skip(1).position(|c| *c == ']').map(|p| p + 1) else {
                return name.first() == Some(&'[') && glob_match(&pat[1..], &name[1..]);
            };
            let Some(c) = name.first() else { return false };
            let class = &pat[1..end];
            let (negate, class) = match class.first() {
                Some('!') | Some('^') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= *c && *c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != negate && glob_match(&pat[end + 1..], &name[1..])
        }
        Some(p) => name.first() == Some(p) && glob_match(&pat[1..], &name[1..]),
    }
}

/// Context paths (relative) that `pattern` names.
fn expand(context: &Path, pattern: &str) -> Vec<String> {
    let norm = normalize(pattern.trim_start_matches('/'));
    if !has_glob(&norm) {
        let p = if norm.is_empty() {
            context.to_path_buf()
        } else {
            context.join(&norm)
        };
        return if std::fs::symlink_metadata(p).is_ok() {
            vec![norm]
        } else {
            Vec::new()
        };
    }
    let mut found = vec![String::new()];
    for seg in norm.split('/') {
        let pat: Vec<char> = seg.chars().collect();
        let mut next = Vec::new();
        for base in &found {
            let dir = if base.is_empty() {
                context.to_path_buf()
            } else {
                context.join(base)
            };
            if !has_glob(seg) {
                if std::fs::symlink_metadata(dir.join(seg)).is_ok() {
                    next.push(join_rel(base, seg));
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| glob_match(&pat, &n.chars().collect::<Vec<_>>()))
                .collect();
            names.sort();
            next.extend(names.iter().map(|n| join_rel(base, n)));
        }
        found = next;
    }
    found
}

fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// An image's files laid out for one container instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    /// The folder standing for the container's `/`.
    pub host: PathBuf,
    /// Container paths the image gave files or folders (each `WORKDIR` and `COPY`
    /// destination), absolute.
    pub paths: Vec<String>,
}

impl Rootfs {
    /// Where a container path of the image is on the host.
    pub fn host_path(&self, container_path: &str) -> PathBuf {
        let rel = normalize(container_path);
        if rel.is_empty() {
            self.host.clone()
        } else {
            self.host.join(rel)
        }
    }

    /// `(host, container)` of each top-level entry of the rootfs, to bind in a sandbox.
    pub fn top_level(&self) -> Vec<(PathBuf, PathBuf)> {
        let mut tops: Vec<String> = self
            .paths
            .iter()
            .filter_map(|p| normalize(p).split('/').next().map(str::to_string))
            .filter(|t| !t.is_empty())
            .collect();
        tops.sort();
        tops.dedup();
        tops.into_iter()
            .map(|t| (self.host.join(&t), PathBuf::from(format!("/{t}"))))
            .collect()
    }
}

/// Whether an image may put files at `path` (see [`SYSTEM_DIRS`]).
fn check_image_path(path: &str, what: &str) -> Result<(), String> {
    let n = normalize(path);
    let top = n.split('/').next().unwrap_or_default();
    if SYSTEM_DIRS.contains(&top) {
        return Err(format!(
            "{what} {path}: the demo node runs images on the host's /{top}, so an image cannot put files there; use another folder (such as /app)"
        ));
    }
    Ok(())
}

/// Lays out the image's files in `rootfs` (emptied first): its `WORKDIR`s and `workdir`
/// (the container's working directory) as folders, each `COPY`/`ADD` from `context`.
/// `Err` names the Dockerfile line.
pub fn build_rootfs(
    cfg: &ImageConfig,
    context: &Path,
    rootfs: &Path,
    workdir: &str,
) -> Result<Rootfs, String> {
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |e: std::io::Error| format!("{what}: {e}")
    };
    if std::fs::symlink_metadata(rootfs).is_ok() {
        std::fs::remove_dir_all(rootfs).map_err(io(rootfs))?;
    }
    std::fs::create_dir_all(rootfs).map_err(io(rootfs))?;
    let mut fs = Rootfs {
        host: rootfs.to_path_buf(),
        paths: Vec::new(),
    };
    for dir in cfg.dirs.iter().map(String::as_str).chain([workdir]) {
        if normalize(dir).is_empty() {
            continue;
        }
        check_image_path(dir, "WORKDIR")?;
        let host = fs.host_path(dir);
        std::fs::create_dir_all(&host).map_err(io(&host))?;
        fs.paths.push(dir.to_string());
    }
    for step in &cfg.copies {
        let line = step.line;
        check_image_path(&step.dest, &format!("Dockerfile line {line}: COPY to"))?;
        let mut sources = Vec::new();
        for pattern in &step.sources {
            let found = expand(context, pattern);
            if found.is_empty() {
                return Err(format!(
                    "Dockerfile line {line}: COPY {pattern}: no such file or directory in the build context"
                ));
            }
            sources.extend(found);
        }
        let dest = fs.host_path(&step.dest);
        for src in &sources {
            let from = if src.is_empty() {
                context.to_path_buf()
            } else {
                context.join(src)
            };
            let meta = std::fs::symlink_metadata(&from).map_err(io(&from))?;
            if meta.is_dir() {
                copy_tree(&from, &dest)?;
            } else {
                let into = step.into_dir || dest.is_dir();
                let to = match (into, from.file_name()) {
                    (true, Some(name)) => dest.join(name),
                    _ => dest.clone(),
                };
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                copy_entry(&from, &to, &meta)?;
            }
        }
        fs.paths.push(step.dest.clone());
    }
    // What went right into `/` (`COPY . /`) is named by its top-level entries.
    if fs.paths.iter().any(|p| normalize(p).is_empty()) {
        fs.paths.retain(|p| !normalize(p).is_empty());
        let entries = std::fs::read_dir(rootfs).map_err(io(rootfs))?;
        for entry in entries {
            let name = entry.map_err(io(rootfs))?.file_name();
            let path = format!("/{}", name.to_string_lossy());
            check_image_path(&path, "COPY to")?;
            fs.paths.push(path);
        }
    }
    Ok(fs)
}

/// Copies the content of folder `from` into folder `to` (made if missing).
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let path = entry.path();
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let target = to.join(entry.file_name());
        if meta.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            copy_entry(&path, &target, &meta)?;
        }
    }
    Ok(())
}

/// Copies a file (with its mode) or re-creates a symbolic link.
fn copy_entry(from: &Path, to: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    let err = |e: std::io::Error| format!("copy {} to {}: {e}", from.display(), to.display());
    if std::fs::symlink_metadata(to).is_ok_and(|m| !m.is_dir()) {
        std::fs::remove_file(to).map_err(err)?;
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).map_err(err)?;
        std::os::unix::fs::symlink(target, to).map_err(err)
    } else {
        std::fs::copy(from, to).map(drop).map_err(err)
    }
}

/// A built image made ready for one container instance.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub config: ImageConfig,
    pub rootfs: Rootfs,
    /// The container's working directory inside: the pod's `workingDir`, else `WORKDIR`.
    pub workdir: String,
}

/// Reads the image stored in `stored` and lays its files out in `rootfs` (see
/// [`parse`], [`build_rootfs`]); `working_dir` is the pod's, `base_env` the variables
/// the Dockerfile's substitutions see for the base image's. Blocking.
pub fn prepare(
    stored: &Path,
    rootfs: &Path,
    working_dir: Option<&str>,
    base_env: &[(String, String)],
) -> Result<Prepared, String> {
    let file = stored.join("Dockerfile");
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("reading the image's {}: {e}", file.display()))?;
    let config = parse(&text, base_env)?;
    let workdir = match working_dir.filter(|w| !w.is_empty()) {
        Some(w) => join_path(&config.workdir, w),
        None => config.workdir.clone(),
    };
    let rootfs = build_rootfs(&config, &stored.join("context"), rootfs, &workdir)?;
    Ok(Prepared {
        config,
        rootfs,
        workdir,
    })
}

/// Calls `give` on `root` and everything below it (not following links).
pub fn give_tree(root: &Path, give: &dyn Fn(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    give(root)?;
    if std::fs::symlink_metadata(root)?.is_dir() {
        for entry in std::fs::read_dir(root)? {
            give_tree(&entry?.path(), give)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn digests_pin_stored_images() {
        let hex = "ab".repeat(32);
        let image = format!("registry.wharf.local:5000/alpha/x:build-1@sha256:{hex}");
        assert_eq!(digest_of(&image), Some(hex.as_str()));
        assert_eq!(digest_of("nginx:1.27"), None);
        assert_eq!(digest_of("x@sha256:abc"), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(stored(dir.path(), &image), None);
        let img = dir.path().join(format!("sha256-{hex}"));
        std::fs::create_dir_all(&img).unwrap();
        // built from git: stays a simulated app
        std::fs::write(img.join("Dockerfile"), "FROM scratch\nLABEL a=b\n").unwrap();
        assert_eq!(stored(dir.path(), &image), None);
        std::fs::write(
            img.join("Dockerfile"),
            format!("FROM scratch\nLABEL a=\"b c\" {ARTIFACT_LABEL}=\"{hex}\"\n"),
        )
        .unwrap();
        assert_eq!(stored(dir.path(), &image), Some(img));
        assert_eq!(
            labels(&format!(
                "FROM x\nLABEL a=\"b c\" \\\n  {ARTIFACT_LABEL}=1\n"
            )),
            [
                ("a".to_string(), "b c".to_string()),
                (ARTIFACT_LABEL.to_string(), "1".to_string())
            ]
        );
    }

    #[test]
    fn exec_and_shell_forms() {
        let c = parse(
            "FROM python:3.11-slim\nCMD [\"python3\", \"-m\", \"http.server\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.cmd, Some(strings(&["python3", "-m", "http.server"])));
        assert_eq!(c.entrypoint, None);
        let c = parse(
            "FROM alpine\n# a comment\nENTRYPOINT exec ./serve \\\n  --port 80\nCMD not json [\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            c.entrypoint,
            Some(strings(&["/bin/sh", "-c", "exec ./serve   --port 80"]))
        );
        assert_eq!(c.cmd, Some(strings(&["/bin/sh", "-c", "not json ["])));
        let c = parse(
            "FROM alpine\nSHELL [\"/bin/bash\", \"-ec\"]\nCMD echo hi\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.cmd, Some(strings(&["/bin/bash", "-ec", "echo hi"])));
    }

    #[test]
    fn env_forms_and_substitution() {
        let base = vec![("PATH".to_string(), "/usr/bin".to_string())];
        let c = parse(
            "ARG VERSION=1.2\nFROM alpine\nENV A=1 B=\"two words\" C='$A'\nENV D some value $A\n\
             ENV PATH=/app/bin:$PATH V=${VERSION} E=${MISSING:-dflt} F=${A:+set}\nENV A=3 G=$A\n",
            &base,
        )
        .unwrap();
        let env: HashMap<_, _> = c.env.iter().cloned().collect();
        assert_eq!(env["A"], "3");
        assert_eq!(env["B"], "two words");
        assert_eq!(env["C"], "$A");
        assert_eq!(env["D"], "some value 1");
        assert_eq!(env["PATH"], "/app/bin:/usr/bin");
        assert_eq!(env["V"], "1.2");
        assert_eq!(env["E"], "dflt");
        assert_eq!(env["F"], "set");
        assert_eq!(env["G"], "1", "the line sees the values before it");
        assert!(!env.contains_key("VERSION"), "ARG is not ENV");
    }

    #[test]
    fn copy_destinations_follow_workdir() {
        let c = parse(
            "FROM node:20\nWORKDIR /srv\nWORKDIR app\nCOPY package.json ./\nCOPY . .\n\
             COPY src/main.js /opt/main.js\nADD --chown=1000:1000 conf /etc2/conf\nCOPY *.txt a b /data/\n\
             COPY [\"with space.txt\", \"/x/y z\"]\nEXPOSE 8080/tcp\nUSER node\nRUN npm ci\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.workdir, "/srv/app");
        assert_eq!(c.dirs, strings(&["/srv", "/srv/app"]));
        let dests: Vec<(&str, bool)> = c
            .copies
            .iter()
            .map(|s| (s.dest.as_str(), s.into_dir))
            .collect();
        assert_eq!(
            dests,
            [
                ("/srv/app", true),
                ("/srv/app", true),
                ("/opt/main.js", false),
                ("/etc2/conf", false),
                ("/data", true),
                ("/x/y z", false),
            ]
        );
        assert_eq!(c.copies[4].sources, strings(&["*.txt", "a", "b"]));
        assert_eq!(c.exposed, strings(&["8080/tcp"]));
        assert_eq!(c.user.as_deref(), Some("node"));
        assert_eq!(c.skipped, strings(&["RUN npm ci"]));
    }

    #[test]
    fn other_stages_and_remote_sources_are_refused() {
        let err = parse(
            "FROM golang AS build\nRUN go build\nFROM alpine\nCOPY --from=build /out/app /app\n",
            &[],
        )
        .unwrap_err();
        assert!(
            err.starts_with("Dockerfile line 4: COPY: --from=build: copying from another stage"),
            "{err}"
        );
        let err = parse("FROM alpine\nADD https://x.example/a.tgz /a\n", &[]).unwrap_err();
        assert!(err.contains("remote sources are not supported"), "{err}");
        let err = parse("FROM alpine\nCOPY ../secret /a\n", &[]).unwrap_err();
        assert!(err.contains("outside the build context"), "{err}");
        assert!(parse("COPY a /a\n", &[])
            .unwrap_err()
            .contains("no build stage"));
        // Only the last stage runs; `FROM <stage>` inherits it.
        let c = parse(
            "FROM alpine AS base\nWORKDIR /app\nENV A=1\nFROM base\nCMD [\"x\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!((c.workdir.as_str(), c.env.len()), ("/app", 1));
    }

    #[test]
    fn command_and_args_override_entrypoint_and_cmd() {
        let c = parse("FROM x\nENTRYPOINT [\"ep\"]\nCMD [\"c1\", \"c2\"]\n", &[]).unwrap();
        let none: Vec<String> = Vec::new();
        assert_eq!(c.argv(&none, &none).unwrap(), strings(&["ep", "c1", "c2"]));
        assert_eq!(
            c.argv(&strings(&["cmd"]), &none).unwrap(),
            strings(&["cmd"])
        );
        assert_eq!(
            c.argv(&none, &strings(&["a"])).unwrap(),
            strings(&["ep", "a"])
        );
        assert_eq!(
            c.argv(&strings(&["cmd"]), &strings(&["a"])).unwrap(),
            strings(&["cmd", "a"])
        );
        let bare = parse("FROM x\n", &[]).unwrap();
        assert_eq!(bare.argv(&none, &none).unwrap_err(), "no command specified");
    }

    #[test]
    fn rootfs_holds_the_copies_at_their_destinations() {
        let ctx = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let w = |p: &str, s: &str| {
            let p = ctx.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        w("index.html", "hello");
        w("a.txt", "a");
        w("b.txt", "b");
        w("static/css/site.css", "css");
        let c = parse(
            "FROM x\nWORKDIR /app\nCOPY . /app/\nCOPY static /srv/\nCOPY *.txt /data/\n\
             COPY index.html /page.html\nCOPY [a-a].txt sub/\n",
            &[],
        )
        .unwrap();
        let rootfs = root.path().join("rootfs");
        let fs = build_rootfs(&c, ctx.path(), &rootfs, &c.workdir).unwrap();
        let read = |p: &str| std::fs::read_to_string(fs.host_path(p)).unwrap();
        assert_eq!(read("/app/index.html"), "hello");
        assert_eq!(read("/app/static/css/site.css"), "css");
        assert_eq!(read("/srv/css/site.css"), "css", "a folder's content");
        assert_eq!(read("/data/a.txt") + &read("/data/b.txt"), "ab");
        assert_eq!(read("/page.html"), "hello");
        assert_eq!(read("/app/sub/a.txt"), "a");
        let tops: Vec<PathBuf> = fs.top_level().into_iter().map(|(_, c)| c).collect();
        assert_eq!(
            tops,
            ["/app", "/data", "/page.html", "/srv"].map(PathBuf::from)
        );

        // What is copied right into `/` is named by its entries, but not system folders.
        let c = parse("FROM x\nCOPY static /\nCMD [\"x\"]\n", &[]).unwrap();
        let fs = build_rootfs(&c, ctx.path(), &rootfs, &c.workdir).unwrap();
        assert_eq!(fs.paths, ["/css"]);
        assert_eq!(read("/css/site.css"), "css");
        w("root/etc/passwd", "x");
        let c = parse("FROM x\nCOPY root /\n", &[]).unwrap();
        let err = build_rootfs(&c, ctx.path(), &rootfs, &c.workdir).unwrap_err();
        assert!(
            err.contains("COPY to /etc: the demo node runs images on the host's /etc"),
            "{err}"
        );

        // Missing sources and system folders are refused.
        let c = parse("FROM x\nCOPY nope.txt /app/\n", &[]).unwrap();
        let err = build_rootfs(&c, ctx.path(), &rootfs, "/").unwrap_err();
        assert!(err.contains("COPY nope.txt: no such file"), "{err}");
        let c = parse("FROM x\nWORKDIR /usr/src/app\n", &[]).unwrap();
        let err = build_rootfs(&c, ctx.path(), &rootfs, &c.workdir).unwrap_err();
        assert!(err.contains("cannot put files there"), "{err}");
    }
}
