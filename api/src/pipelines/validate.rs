//! Checks of a pipeline design, shared by the designer (instant feedback) and the server
//! (the real gate, before anything is stored or run). Each message names the stage and the
//! field and says what is expected.

use super::{dockerfile, DesignerOptions, PipelineSpec, StageKind, TOOLS};
use crate::workloads::validate::{image as image_ref, name as dns_label};

/// Longest pipeline name: its runs are named `<pipeline>-<number>` and must stay a DNS label.
pub const MAX_NAME: usize = 50;

pub fn pipeline_name(value: &str) -> Result<(), String> {
    dns_label("name", value)?;
    if value.len() > MAX_NAME {
        return Err(format!(
            "name: at most {MAX_NAME} characters (got {})",
            value.len()
        ));
    }
    Ok(())
}

/// A git URL the clone stage accepts: `https://host/path`, `http://…`, `ssh://[user@]host/path`,
/// `user@host:path`, and `file:///path` only where `local_git` allows it.
pub fn git_url(value: &str, local_git: bool) -> Result<(), String> {
    let bad = |why: &str| Err(format!("source: git URL '{value}' {why}"));
    if value.is_empty() {
        return Err(
            "source: the git URL is required (e.g. https://git.example.com/team/app.git)".into(),
        );
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains spaces or control characters");
    }
    if value.starts_with('-') {
        return bad("starts with '-'");
    }
    if let Some(path) = value.strip_prefix("file://") {
        if !local_git {
            return bad("is a local path; local repositories are allowed only on the demo cluster, where builds run on the console's host");
        }
        if !path.starts_with('/') || path.len() < 2 {
            return bad("must be file:///absolute/path");
        }
        return Ok(());
    }
    for scheme in ["https://", "http://", "ssh://", "git://"] {
        if let Some(rest) = value.strip_prefix(scheme) {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit('@').next().unwrap_or_default();
            let host = host.split(':').next().unwrap_or_default();
            if host.is_empty()
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                return bad("has no valid host");
            }
            if path.trim_matches('/').is_empty() {
                return bad("has no repository path");
            }
            return Ok(());
        }
    }
    if value.contains("://") {
        return bad(
            "uses a scheme git cannot clone here (use https://, http://, ssh:// or git@host:path)",
        );
    }
    // scp-like: user@host:path
    match value.split_once(':') {
        Some((userhost, path))
            if userhost.contains('@') && !path.is_empty() && !path.starts_with("//") =>
        {
            let host = userhost.rsplit('@').next().unwrap_or_default();
            if host.is_empty()
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                return bad("has no valid host");
            }
            Ok(())
        }
        _ => bad("is not a git URL (use https://host/path, ssh://host/path or git@host:path)"),
    }
}

/// A branch or tag name as git allows it (a subset: no spaces, no `..`, no leading `-`).
pub fn git_ref(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("source: the branch or tag is required (e.g. main)".into());
    }
    let ok = value.len() <= 200
        && !value.starts_with('-')
        && !value.starts_with('/')
        && !value.ends_with('/')
        && !value.ends_with(".lock")
        && !value.contains("..")
        && !value.contains("@{")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "source: '{value}' is not a valid branch or tag name"
        ))
    }
}

fn secret_name(stage: &str, value: &Option<String>) -> Result<(), String> {
    match value {
        Some(v) if !v.is_empty() => dns_label(&format!("{stage}: secret"), v),
        _ => Ok(()),
    }
}

/// A repository inside a registry: lower-case path components separated by `/`.
pub fn repository(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("image: the repository is required (e.g. alpha/shop-web)".into());
    }
    let ok = value.len() <= 200
        && value.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        });
    if ok {
        Ok(())
    } else {
        Err(format!("image: repository '{value}' must be lower-case letters, digits, '.', '_' or '-' in '/'-separated parts"))
    }
}

fn http_url(field: &str, value: &str) -> Result<(), String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty() && !r.starts_with('/') && !value.chars().any(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{field}: '{value}' is not an http(s) URL (e.g. https://sonar.example.com)"
        )),
    }
}

/// Every problem with the design, in stage order; empty when it may be saved and run.
pub fn pipeline(spec: &PipelineSpec, options: &DesignerOptions) -> Vec<String> {
    let mut errors = Vec::new();
    let mut push = |r: Result<(), String>| {
        if let Err(e) = r {
            errors.push(e);
        }
    };
    push(dns_label("app", &spec.app));
    if spec.stages.is_empty() {
        push(Err(
            "stages: a pipeline needs at least a source and an image stage".into(),
        ));
        return errors;
    }
    let kinds: Vec<Option<StageKind>> = spec.stages.iter().map(|s| s.kind()).collect();
    let mut seen = std::collections::HashSet::new();
    for (i, stage) in spec.stages.iter().enumerate() {
        let label = format!("stage {} ('{}')", i + 1, stage.name);
        match dns_label(&format!("stage {}: name", i + 1), &stage.name) {
            Err(e) => push(Err(e)),
            Ok(()) if stage.name.len() > 40 => push(Err(format!(
                "{label}: a stage name has at most 40 characters"
            ))),
            Ok(()) if !seen.insert(stage.name.as_str()) => push(Err(format!(
                "{label}: two stages are named '{}'",
                stage.name
            ))),
            Ok(()) => {}
        }
        if kinds[i].is_none() {
            push(Err(format!("{label}: a stage is exactly one of source, build, quality, debug tools, image, deploy")));
        }
    }
    let count = |k: StageKind| kinds.iter().filter(|x| **x == Some(k)).count();
    let position = |k: StageKind| kinds.iter().position(|x| *x == Some(k));
    if kinds.first() != Some(&Some(StageKind::Source)) || count(StageKind::Source) != 1 {
        push(Err(
            "stages: the first stage is the source, and there is only one".into(),
        ));
    }
    match (count(StageKind::Image), position(StageKind::Image)) {
        (1, Some(image_at)) => {
            for (i, k) in kinds.iter().enumerate() {
                if matches!(
                    k,
                    Some(StageKind::Build | StageKind::Quality | StageKind::Tools)
                ) && i > image_at
                {
                    push(Err(format!(
                        "stage {} ('{}'): {} stages come before the image stage",
                        i + 1,
                        spec.stages[i].name,
                        k.map(|k| k.label()).unwrap_or("")
                    )));
                }
            }
        }
        _ => push(Err("stages: a pipeline has exactly one image stage".into())),
    }
    for k in [StageKind::Quality, StageKind::Tools, StageKind::Deploy] {
        if count(k) > 1 {
            push(Err(format!("stages: at most one {} stage", k.label())));
        }
    }
    if let Some(at) = position(StageKind::Deploy) {
        if at + 1 != kinds.len() {
            push(Err("stages: the deploy stage comes last".into()));
        }
    }
    for stage in &spec.stages {
        if let Some(s) = &stage.source {
            push(git_url(&s.git_url, options.local_git));
            push(git_ref(&s.git_ref));
            push(secret_name("source", &s.credentials_secret));
        }
        if let Some(b) = &stage.build {
            push(image_ref(&b.image).map_err(|e| format!("build '{}': builder {e}", stage.name)));
            if b.command.trim().is_empty() {
                push(Err(format!(
                    "build '{}': the build command is empty (e.g. mvn -B package -DskipTests)",
                    stage.name
                )));
            }
        }
        if let Some(q) = &stage.quality {
            push(http_url("quality: Sonar server URL", &q.server_url));
            push(secret_name("quality", &q.token_secret));
            if !q
                .project_key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            {
                push(Err(format!(
                    "quality: project key '{}' may use letters, digits, '-', '_', '.' and ':'",
                    q.project_key
                )));
            }
        }
        if let Some(t) = &stage.tools {
            if t.tools.is_empty() {
                push(Err(
                    "debug tools: choose at least one tool, or remove the stage".into(),
                ));
            }
            for name in &t.tools {
                if !TOOLS.iter().any(|x| x.name == name) {
                    let known: Vec<&str> = TOOLS.iter().map(|x| x.name).collect();
                    push(Err(format!(
                        "debug tools: unknown tool '{name}' (choose from {})",
                        known.join(", ")
                    )));
                }
            }
        }
        if let Some(img) = &stage.image {
            push(dockerfile::check(&img.dockerfile));
            if !options.registries.iter().any(|r| r.name == img.registry) {
                let known: Vec<&str> = options.registries.iter().map(|r| r.name.as_str()).collect();
                push(Err(format!(
                    "image: unknown registry '{}' (this console pushes to: {})",
                    img.registry,
                    if known.is_empty() {
                        "none configured".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            push(repository(&img.repository));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipelines::{RegistryOption, Stage};

    fn options() -> DesignerOptions {
        DesignerOptions {
            registries: vec![RegistryOption {
                name: "demo".into(),
                host: "registry.wharf.local:5000".into(),
            }],
            local_git: false,
        }
    }

    fn good() -> PipelineSpec {
        let mut source = Stage::new(StageKind::Source, "clone");
        source.source.as_mut().unwrap().git_url = "https://git.example.com/team/app.git".into();
        let build = Stage::new(StageKind::Build, "build");
        let mut image = Stage::new(StageKind::Image, "image");
        image.image.as_mut().unwrap().registry = "demo".into();
        image.image.as_mut().unwrap().repository = "alpha/shop".into();
        PipelineSpec {
            app: "shop".into(),
            stages: vec![
                source,
                build,
                image,
                Stage::new(StageKind::Deploy, "deploy"),
            ],
        }
    }

    #[test]
    fn a_good_design_passes() {
        assert_eq!(pipeline(&good(), &options()), Vec::<String>::new());
    }

    #[test]
    fn git_urls() {
        for ok in [
            "https://github.com/a/b.git",
            "http://git.local:3000/a/b",
            "ssh://git@host:2222/a/b.git",
            "git@github.com:a/b.git",
        ] {
            assert_eq!(git_url(ok, false), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "github.com/a/b",
            "https://",
            "https:///a",
            "ftp://host/a",
            "-uhttps://x/y",
            "https://host/a b",
            "ext::sh -c touch% /tmp/x",
            "https://host",
        ] {
            assert!(git_url(bad, false).is_err(), "{bad}");
        }
        assert!(git_url("file:///srv/repo.git", false)
            .unwrap_err()
            .contains("demo cluster"));
        assert_eq!(git_url("file:///srv/repo.git", true), Ok(()));
        assert!(git_url("file://relative", true).is_err());
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut spec = good();
        spec.stages[0].source.as_mut().unwrap().git_url = "not a url".into();
        spec.stages[1].build.as_mut().unwrap().command = "  ".into();
        spec.stages[2].image.as_mut().unwrap().dockerfile = "RUN make".into();
        spec.stages[2].image.as_mut().unwrap().registry = "dockerhub".into();
        let errors = pipeline(&spec, &options());
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("source: git URL"));
        assert!(errors[1].contains("build command is empty"));
        assert!(errors[2].contains("RUN before FROM"));
        assert_eq!(
            errors[3],
            "image: unknown registry 'dockerhub' (this console pushes to: demo)"
        );
    }

    #[test]
    fn stage_order_is_checked() {
        let mut spec = good();
        spec.stages.swap(0, 1);
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.contains("first stage is the source")));
        let mut spec = good();
        spec.stages.swap(1, 2);
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.contains("come before the image stage")));
        let mut spec = good();
        spec.stages.swap(2, 3);
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.contains("deploy stage comes last")));
        let mut spec = good();
        spec.stages.remove(2);
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.contains("exactly one image stage")));
        let mut spec = good();
        spec.stages[1].name = "clone".into();
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.contains("two stages are named 'clone'")));
    }
}
