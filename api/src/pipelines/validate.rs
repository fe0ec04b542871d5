//! Checks of a pipeline design, shared by the designer (instant feedback) and the server
//! (the real gate, before anything is stored or run). Each message names the stage and the
//! field and says what is expected.

use super::{
    dockerfile, ArtifactKind, ArtifactSource, DesignerOptions, PipelineSpec, StageKind,
    MAX_ARTIFACT_NAME, TOOLS,
};
use crate::workloads::validate::{image as image_ref, name as dns_label};
use crate::{text, Text};

/// A stage kind as a sentence names it.
fn kind_name(k: StageKind) -> Text {
    let zh = match k {
        StageKind::Source => "源码",
        StageKind::Build => "构建",
        StageKind::Quality => "质量检查",
        StageKind::Tools => "调试工具",
        StageKind::Image => "镜像",
        StageKind::Deploy => "部署",
    };
    Text::new(k.label(), zh)
}

/// Longest pipeline name: its runs are named `<pipeline>-<number>` and must stay a DNS label.
pub const MAX_NAME: usize = 50;

pub fn pipeline_name(value: &str) -> Result<(), Text> {
    dns_label(&text!("name", "名称"), value)?;
    let got = value.len();
    if got > MAX_NAME {
        return Err(text!(
            "name: at most {MAX_NAME} characters (got {got})",
            "名称:最多 {MAX_NAME} 个字符(当前 {got} 个)"
        ));
    }
    Ok(())
}

/// The host and port a remote git URL (one [`git_url`] accepts) is cloned from: the port
/// written, else the scheme's (https 443, http 80, ssh and `user@host:path` 22, git 9418).
/// `None` for a local `file://` repository and for what is not a git URL.
pub fn git_host_port(value: &str) -> Option<(String, u16)> {
    let split = |authority: &str, default: u16| {
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = match host_port.split_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok()?),
            None => (host_port, default),
        };
        (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
    };
    for (scheme, port) in [
        ("https://", 443),
        ("http://", 80),
        ("ssh://", 22),
        ("git://", 9418),
    ] {
        if let Some(rest) = value.strip_prefix(scheme) {
            return split(rest.split('/').next().unwrap_or_default(), port);
        }
    }
    if value.contains("://") {
        return None;
    }
    // scp-like: user@host:path (the part after ':' is a path, not a port)
    let (userhost, _) = value.split_once(':')?;
    let host = userhost.rsplit('@').next().unwrap_or_default();
    (userhost.contains('@') && !host.is_empty()).then(|| (host.to_ascii_lowercase(), 22))
}

/// A git URL the clone stage accepts: `https://host/path`, `http://…`, `ssh://[user@]host/path`,
/// `user@host:path`, and `file:///path` only where `local_git` allows it.
pub fn git_url(value: &str, local_git: bool) -> Result<(), Text> {
    let bad = |why: Text| {
        Err(text!(
            "source: git URL '{value}' {why}",
            "源码:Git 地址“{value}”{why}"
        ))
    };
    if value.is_empty() {
        return Err(text!(
            "source: the git URL is required (e.g. https://git.example.com/team/app.git)",
            "源码:Git 地址必填(例如 https://git.example.com/team/app.git)"
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad(text!(
            "contains spaces or control characters",
            "包含空格或控制字符"
        ));
    }
    if value.starts_with('-') {
        return bad(text!("starts with '-'", "以“-”开头"));
    }
    if let Some(path) = value.strip_prefix("file://") {
        if !local_git {
            return bad(text!(
                "is a local path; local repositories are allowed only on the demo cluster, where builds run on the console's host",
                "是本地路径;只有演示集群允许本地仓库(构建在控制台所在主机上运行)"
            ));
        }
        if !path.starts_with('/') || path.len() < 2 {
            return bad(text!(
                "must be file:///absolute/path",
                "必须是 file:///绝对路径"
            ));
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
                return bad(text!("has no valid host", "没有有效的主机名"));
            }
            if path.trim_matches('/').is_empty() {
                return bad(text!("has no repository path", "缺少仓库路径"));
            }
            return Ok(());
        }
    }
    if value.contains("://") {
        return bad(text!(
            "uses a scheme git cannot clone here (use https://, http://, ssh:// or git@host:path)",
            "使用的协议无法在此克隆(请使用 https://、http://、ssh:// 或 git@host:path)"
        ));
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
                return bad(text!("has no valid host", "没有有效的主机名"));
            }
            Ok(())
        }
        _ => bad(text!(
            "is not a git URL (use https://host/path, ssh://host/path or git@host:path)",
            "不是 Git 地址(请使用 https://host/path、ssh://host/path 或 git@host:path)"
        )),
    }
}

/// A branch or tag name as git allows it (a subset: no spaces, no `..`, no leading `-`).
pub fn git_ref(value: &str) -> Result<(), Text> {
    if value.is_empty() {
        return Err(text!(
            "source: the branch or tag is required (e.g. main)",
            "源码:分支或标签必填(例如 main)"
        ));
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
        Err(text!(
            "source: '{value}' is not a valid branch or tag name",
            "源码:“{value}”不是有效的分支或标签名"
        ))
    }
}

fn secret_name(stage: StageKind, value: &Option<String>) -> Result<(), Text> {
    let stage = kind_name(stage);
    match value {
        Some(v) if !v.is_empty() => dns_label(&text!("{stage}: secret", "{stage}:Secret"), v),
        _ => Ok(()),
    }
}

/// A repository inside a registry: lower-case path components separated by `/`.
pub fn repository(value: &str) -> Result<(), Text> {
    if value.is_empty() {
        return Err(text!(
            "image: the repository is required (e.g. alpha/shop-web)",
            "镜像:仓库必填(例如 alpha/shop-web)"
        ));
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
        Err(text!(
            "image: repository '{value}' must be lower-case letters, digits, '.', '_' or '-' in '/'-separated parts",
            "镜像:仓库“{value}”只能由“/”分隔的若干段组成,每段为小写字母、数字、“.”、“_”或“-”"
        ))
    }
}

/// An artifact's file name as uploaded: letters, digits, `.`, `_`, `-`, ending in `.jar`,
/// `.war` or `.zip`, at most [`MAX_ARTIFACT_NAME`] bytes. It becomes a file name in the
/// image and a line of its Dockerfile, so nothing else gets through.
pub fn artifact_file_name(value: &str) -> Result<ArtifactKind, Text> {
    let ok_chars = !value.is_empty()
        && value.len() <= MAX_ARTIFACT_NAME
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && value.as_bytes()[0].is_ascii_alphanumeric();
    if !ok_chars {
        return Err(text!(
            "artifact: file name '{value}' may use letters, digits, '.', '_' and '-' (at most {MAX_ARTIFACT_NAME}, starting with a letter or digit); rename the file and upload it again",
            "制品:文件名“{value}”只能使用字母、数字、“.”、“_”和“-”(最多 {MAX_ARTIFACT_NAME} 个字符,以字母或数字开头);请重命名后重新上传"
        ));
    }
    ArtifactKind::of(value).ok_or_else(|| {
        text!(
            "artifact: '{value}' is not a .jar, .war or .zip file",
            "制品:“{value}”不是 .jar、.war 或 .zip 文件"
        )
    })
}

/// A SHA-256 as the console names uploads: 64 lower-case hex digits.
pub fn is_sha256(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The longest start command an artifact's image takes.
pub const MAX_START_COMMAND: usize = 1000;

/// An uploaded artifact as a source: the file, the base image (one the admin lists), the
/// start command (required for a zip) and the port.
pub fn artifact(a: &ArtifactSource, options: &DesignerOptions) -> Vec<Text> {
    let mut errors = Vec::new();
    if let Some(why) = &options.artifacts_unavailable {
        errors.push(text!("artifact: {why}", "制品:{why}"));
    }
    if !is_sha256(&a.sha256) {
        errors.push(text!(
            "artifact: no file uploaded yet (upload a .jar, .war or .zip)",
            "制品:尚未上传文件(请上传 .jar、.war 或 .zip)"
        ));
    }
    let kind = artifact_file_name(&a.file_name)
        .map_err(|e| errors.push(e))
        .ok();
    if options.base_image(&a.base_image).is_none() {
        let known: Vec<&str> = options
            .base_images
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        let (base, known) = (&a.base_image, known.join(", "));
        errors.push(if known.is_empty() {
            text!(
                "artifact: base image '{base}' is not listed (the platform admin lists none: --artifact-base-image)",
                "制品:基础镜像“{base}”不在列表中(平台管理员尚未配置:--artifact-base-image)"
            )
        } else {
            text!(
                "artifact: base image '{base}' is not one the platform admin lists ({known})",
                "制品:基础镜像“{base}”不在平台管理员提供的列表中({known})"
            )
        });
    }
    let command = a.start_command.trim();
    if command.len() > MAX_START_COMMAND || command.chars().any(|c| c.is_control()) {
        errors.push(text!(
            "artifact: the start command is one line of at most {MAX_START_COMMAND} characters",
            "制品:启动命令须为一行,最多 {MAX_START_COMMAND} 个字符"
        ));
    }
    if command.is_empty() && kind == Some(ArtifactKind::Zip) {
        errors.push(text!(
            "artifact: a zip needs a start command (run in /app, where it is unpacked, e.g. ./start.sh)",
            "制品:zip 包需要启动命令(在解压目录 /app 中执行,例如 ./start.sh)"
        ));
    }
    if a.port == 0 {
        errors.push(text!(
            "artifact: the port the app listens on is 1 to 65535",
            "制品:应用监听端口须在 1 到 65535 之间"
        ));
    }
    errors
}

fn http_url(field: &Text, value: &str) -> Result<(), Text> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty() && !r.starts_with('/') && !value.chars().any(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(text!(
            "{field}: '{value}' is not an http(s) URL (e.g. https://sonar.example.com)",
            "{field}:“{value}”不是 http(s) 地址(例如 https://sonar.example.com)"
        )),
    }
}

/// Every problem with the design, in stage order; empty when it may be saved and run.
pub fn pipeline(spec: &PipelineSpec, options: &DesignerOptions) -> Vec<Text> {
    let mut errors = Vec::new();
    let mut push = |r: Result<(), Text>| {
        if let Err(e) = r {
            errors.push(e);
        }
    };
    push(dns_label(&text!("app", "应用"), &spec.app));
    if spec.stages.is_empty() {
        push(Err(text!(
            "stages: a pipeline needs at least a source and an image stage",
            "阶段:流水线至少需要一个源码阶段和一个镜像阶段"
        )));
        return errors;
    }
    let kinds: Vec<Option<StageKind>> = spec.stages.iter().map(|s| s.kind()).collect();
    let mut seen = std::collections::HashSet::new();
    for (i, stage) in spec.stages.iter().enumerate() {
        let (n, name) = (i + 1, &stage.name);
        let label = text!("stage {n} ('{name}')", "第 {n} 阶段(“{name}”)");
        match dns_label(&text!("stage {n}: name", "第 {n} 阶段:名称"), name) {
            Err(e) => push(Err(e)),
            Ok(()) if name.len() > 40 => push(Err(text!(
                "{label}: a stage name has at most 40 characters",
                "{label}:阶段名称最多 40 个字符"
            ))),
            Ok(()) if !seen.insert(name.as_str()) => push(Err(text!(
                "{label}: two stages are named '{name}'",
                "{label}:有两个阶段都叫“{name}”"
            ))),
            Ok(()) => {}
        }
        if kinds[i].is_none() {
            push(Err(text!(
                "{label}: a stage is exactly one of source, build, quality, debug tools, image, deploy",
                "{label}:每个阶段只能是源码、构建、质量检查、调试工具、镜像、部署中的一种"
            )));
        }
    }
    // The image stage's push runs in a container named `<image stage>-push`.
    if let Some(image) = spec
        .stages
        .iter()
        .find(|s| s.kind() == Some(StageKind::Image))
    {
        let taken = format!("{}-push", image.name);
        if let Some(i) = spec.stages.iter().position(|s| s.name == taken) {
            let (n, image) = (i + 1, &image.name);
            push(Err(text!(
                "stage {n} ('{taken}'): this name is taken by the push step of image stage '{image}'",
                "第 {n} 阶段(“{taken}”):此名称已被镜像阶段“{image}”的推送步骤占用"
            )));
        }
    }
    let count = |k: StageKind| kinds.iter().filter(|x| **x == Some(k)).count();
    let position = |k: StageKind| kinds.iter().position(|x| *x == Some(k));
    if kinds.first() != Some(&Some(StageKind::Source)) || count(StageKind::Source) != 1 {
        push(Err(text!(
            "stages: the first stage is the source, and there is only one",
            "阶段:第一个阶段必须是源码阶段,且只能有一个"
        )));
    }
    match (count(StageKind::Image), position(StageKind::Image)) {
        (1, Some(image_at)) => {
            for (i, k) in kinds.iter().enumerate() {
                if matches!(
                    k,
                    Some(StageKind::Build | StageKind::Quality | StageKind::Tools)
                ) && i > image_at
                {
                    let (n, name) = (i + 1, &spec.stages[i].name);
                    let kind = k.map(kind_name).unwrap_or_else(|| Text::verbatim(""));
                    push(Err(text!(
                        "stage {n} ('{name}'): {kind} stages come before the image stage",
                        "第 {n} 阶段(“{name}”):{kind}阶段必须在镜像阶段之前"
                    )));
                }
            }
        }
        _ => push(Err(text!(
            "stages: a pipeline has exactly one image stage",
            "阶段:流水线必须有且只有一个镜像阶段"
        ))),
    }
    for k in [StageKind::Quality, StageKind::Tools, StageKind::Deploy] {
        if count(k) > 1 {
            let kind = kind_name(k);
            push(Err(text!(
                "stages: at most one {kind} stage",
                "阶段:{kind}阶段最多一个"
            )));
        }
    }
    if let Some(at) = position(StageKind::Deploy) {
        if at + 1 != kinds.len() {
            push(Err(text!(
                "stages: the deploy stage comes last",
                "阶段:部署阶段必须是最后一个"
            )));
        }
    }
    for stage in &spec.stages {
        if let Some(s) = &stage.source {
            match &s.artifact {
                None => {
                    push(git_url(&s.git_url, options.local_git));
                    push(git_ref(&s.git_ref));
                    push(secret_name(StageKind::Source, &s.credentials_secret));
                }
                Some(a) => {
                    if !s.git_url.is_empty() {
                        push(Err(text!(
                            "source: either a git URL or an uploaded artifact, not both",
                            "源码:Git 地址与上传的制品只能二选一"
                        )));
                    }
                    artifact(a, options).into_iter().for_each(|e| push(Err(e)));
                }
            }
        }
        if let Some(b) = &stage.build {
            let name = &stage.name;
            push(
                image_ref(&b.image)
                    .map_err(|e| text!("build '{name}': builder {e}", "构建“{name}”:构建镜像 {e}")),
            );
            if b.command.trim().is_empty() {
                push(Err(text!(
                    "build '{name}': the build command is empty (e.g. mvn -B package -DskipTests)",
                    "构建“{name}”:构建命令为空(例如 mvn -B package -DskipTests)"
                )));
            }
        }
        if let Some(q) = &stage.quality {
            push(http_url(
                &text!("quality: Sonar server URL", "质量检查:Sonar 服务器地址"),
                &q.server_url,
            ));
            push(secret_name(StageKind::Quality, &q.token_secret));
            if !q
                .project_key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            {
                let key = &q.project_key;
                push(Err(text!(
                    "quality: project key '{key}' may use letters, digits, '-', '_', '.' and ':'",
                    "质量检查:项目 Key“{key}”只能使用字母、数字、“-”、“_”、“.”和“:”"
                )));
            }
        }
        if let Some(t) = &stage.tools {
            if t.tools.is_empty() {
                push(Err(text!(
                    "debug tools: choose at least one tool, or remove the stage",
                    "调试工具:请至少选择一个工具,或删除该阶段"
                )));
            }
            for name in &t.tools {
                if !TOOLS.iter().any(|x| x.name == name) {
                    let known = TOOLS.iter().map(|x| x.name).collect::<Vec<_>>().join(", ");
                    push(Err(text!(
                        "debug tools: unknown tool '{name}' (choose from {known})",
                        "调试工具:未知工具“{name}”(可选:{known})"
                    )));
                }
            }
        }
        if let Some(img) = &stage.image {
            // NB: for an artifact the console writes the Dockerfile (see `final_dockerfile`)
            if spec.artifact().is_none() {
                push(dockerfile::check(&img.dockerfile));
            }
            if !options.registries.iter().any(|r| r.name == img.registry) {
                let known: Vec<&str> = options.registries.iter().map(|r| r.name.as_str()).collect();
                let known = if known.is_empty() {
                    text!("none configured", "未配置")
                } else {
                    Text::verbatim(known.join(", "))
                };
                let registry = &img.registry;
                push(Err(text!(
                    "image: unknown registry '{registry}' (this console pushes to: {known})",
                    "镜像:未知的镜像仓库“{registry}”(本控制台可推送到:{known})"
                )));
            }
            push(repository(&img.repository));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::dockerfile::check as check_dockerfile;
    use super::*;
    use crate::pipelines::{RegistryOption, Stage};

    fn options() -> DesignerOptions {
        DesignerOptions {
            registries: vec![RegistryOption {
                name: "demo".into(),
                host: "registry.wharf.local:5000".into(),
            }],
            local_git: false,
            base_images: vec![crate::pipelines::BaseImageOption {
                name: "jre17".into(),
                image: "eclipse-temurin:17-jre".into(),
            }],
            artifact_max_bytes: 1 << 20,
            artifacts_unavailable: None,
        }
    }

    /// `good()` with an uploaded jar as its source.
    fn from_artifact() -> PipelineSpec {
        let mut spec = good();
        let source = spec.stages[0].source.as_mut().unwrap();
        source.git_url.clear();
        source.artifact = Some(ArtifactSource {
            sha256: "ab".repeat(32),
            file_name: "orders-1.4.jar".into(),
            size: 1234,
            base_image: "jre17".into(),
            start_command: String::new(),
            port: 8080,
        });
        spec
    }

    #[test]
    fn an_uploaded_artifact_is_a_source() {
        assert_eq!(pipeline(&from_artifact(), &options()), Vec::<Text>::new());
        let errors = |change: fn(&mut ArtifactSource)| {
            let mut spec = from_artifact();
            change(
                spec.stages[0]
                    .source
                    .as_mut()
                    .unwrap()
                    .artifact
                    .as_mut()
                    .unwrap(),
            );
            let got = pipeline(&spec, &options());
            assert!(got.iter().all(|e| !e.zh.is_empty()), "{got:?}");
            got.into_iter().map(|e| e.en).collect::<Vec<_>>().join("; ")
        };
        assert!(errors(|a| a.sha256 = "x".into()).contains("no file uploaded"));
        assert!(errors(|a| a.file_name = "app.tar.gz".into()).contains("not a .jar, .war or .zip"));
        assert!(errors(|a| a.file_name = "a b.jar".into()).contains("may use letters"));
        assert!(errors(|a| a.file_name = "x\nRUN evil.jar".into()).contains("may use letters"));
        assert!(errors(|a| a.file_name = "-x.jar".into()).contains("may use letters"));
        assert!(errors(|a| a.base_image = "jre99".into())
            .contains("not one the platform admin lists (jre17)"));
        assert!(errors(|a| a.port = 0).contains("port"));
        assert!(errors(|a| a.start_command = "a\nb".into()).contains("one line"));
        // a zip has no entry point of its own
        assert!(errors(|a| a.file_name = "site.zip".into()).contains("a zip needs a start command"));
        assert_eq!(
            errors(|a| {
                a.file_name = "site.zip".into();
                a.start_command = "./start.sh".into();
            }),
            ""
        );
        // both sources at once
        let mut spec = from_artifact();
        spec.stages[0].source.as_mut().unwrap().git_url = "https://git.example.com/a.git".into();
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.en.contains("not both")));
        // where the console cannot serve uploads to its build pods
        let mut o = options();
        o.artifacts_unavailable = Some(Text::new("not configured", "未配置"));
        assert!(pipeline(&from_artifact(), &o)
            .iter()
            .any(|e| e.en == "artifact: not configured"));
    }

    #[test]
    fn an_artifacts_dockerfile_is_written_for_it() {
        let spec = from_artifact();
        let got = crate::pipelines::final_dockerfile(&spec, &options().base_images).unwrap();
        let labels = format!(
            "LABEL dev.wharf.artifact.sha256=\"{}\" dev.wharf.artifact.name=\"orders-1.4.jar\"",
            "ab".repeat(32)
        );
        assert!(
            got.contains(&format!(
                "\nFROM eclipse-temurin:17-jre\n{labels}\nWORKDIR /app\nCOPY . /app/\nEXPOSE 8080\n"
            )),
            "{got}"
        );
        assert!(
            got.ends_with("CMD [\"sh\",\"-c\",\"exec java -jar /app/orders-1.4.jar\"]\n"),
            "{got}"
        );
        assert_eq!(check_dockerfile(&got), Ok(()));
        let mut spec = from_artifact();
        spec.stages[0]
            .source
            .as_mut()
            .unwrap()
            .artifact
            .as_mut()
            .unwrap()
            .start_command = r#"python3 -m http.server "$PORT" # "quoted""#.into();
        let got = crate::pipelines::final_dockerfile(&spec, &options().base_images).unwrap();
        assert!(
            got.ends_with(
                "CMD [\"sh\",\"-c\",\"python3 -m http.server \\\"$PORT\\\" # \\\"quoted\\\"\"]\n"
            ),
            "{got}"
        );
        // an unlisted base image gives no Dockerfile to build
        let mut spec = from_artifact();
        spec.stages[0]
            .source
            .as_mut()
            .unwrap()
            .artifact
            .as_mut()
            .unwrap()
            .base_image = "x".into();
        assert_eq!(
            crate::pipelines::final_dockerfile(&spec, &options().base_images),
            None
        );
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
        assert_eq!(pipeline(&good(), &options()), Vec::<Text>::new());
    }

    #[test]
    fn git_urls_are_cloned_from_their_host_and_port() {
        for (url, host, port) in [
            (
                "https://git.example.com/team/app.git",
                "git.example.com",
                443,
            ),
            (
                "http://Git.Example.com:8080/team/app.git",
                "git.example.com",
                8080,
            ),
            ("ssh://git@10.0.0.7/team/app.git", "10.0.0.7", 22),
            ("ssh://git@gitlab:2222/team/app.git", "gitlab", 2222),
            ("git://127.0.0.1/app", "127.0.0.1", 9418),
            ("git@169.254.169.254:team/app.git", "169.254.169.254", 22),
            ("https://user:pw@git.example.com/x", "git.example.com", 443),
        ] {
            assert_eq!(git_host_port(url), Some((host.to_string(), port)), "{url}");
        }
        for local in [
            "file:///srv/repo.git",
            "ftp://x/y",
            "not a url",
            "https://x:99999/y",
        ] {
            assert_eq!(git_host_port(local), None, "{local}");
        }
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
            .en
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
        assert!(errors[0].en.starts_with("source: git URL"));
        assert!(errors[1].en.contains("build command is empty"));
        assert!(errors[2].en.contains("RUN before FROM"));
        assert_eq!(
            errors[3].en,
            "image: unknown registry 'dockerhub' (this console pushes to: demo)"
        );
    }

    #[test]
    fn stage_order_is_checked() {
        let mut spec = good();
        spec.stages.swap(0, 1);
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.en.contains("first stage is the source")));
        let mut spec = good();
        spec.stages.swap(1, 2);
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.en.contains("come before the image stage")));
        let mut spec = good();
        spec.stages.swap(2, 3);
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.en.contains("deploy stage comes last")));
        let mut spec = good();
        spec.stages.remove(2);
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.en.contains("exactly one image stage")));
        let mut spec = good();
        spec.stages[1].name = "clone".into();
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.en.contains("two stages are named 'clone'")));
        let mut spec = good();
        let image = spec
            .stages
            .iter()
            .find(|s| s.kind() == Some(StageKind::Image))
            .map(|s| s.name.clone())
            .unwrap();
        spec.stages[1].name = format!("{image}-push");
        assert!(pipeline(&spec, &options())
            .iter()
            .any(|e| e.en.contains("taken by the push step")));
    }
}
