//! The image stage's Dockerfile: the check that it starts with `FROM`, and the debug tools
//! stage's lines added to it. Shared by the designer (preview) and the server (the Job).

use super::TOOLS;
use crate::{text, Text};

/// The instructions of a Dockerfile: `(line number, keyword upper-cased, rest)`, with
/// comments, blank lines and `\` continuations folded away.
fn instructions(dockerfile: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in dockerfile.lines().enumerate() {
        let line = raw.trim();
        if pending.is_none() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        let (start, mut text) = pending.take().unwrap_or((i + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
                pending = Some((start, text));
            }
            None => {
                text.push_str(line);
                let (keyword, rest) = text
                    .split_once(char::is_whitespace)
                    .unwrap_or((text.as_str(), ""));
                out.push((start, keyword.to_ascii_uppercase(), rest.trim().to_string()));
            }
        }
    }
    if let Some((start, text)) = pending {
        let (keyword, rest) = text
            .split_once(char::is_whitespace)
            .unwrap_or((text.as_str(), ""));
        out.push((start, keyword.to_ascii_uppercase(), rest.trim().to_string()));
    }
    out
}

/// `Ok` when the Dockerfile has a `FROM` before any instruction other than `ARG`.
pub fn check(dockerfile: &str) -> Result<(), Text> {
    let all = instructions(dockerfile);
    match all.iter().find(|(_, k, _)| k != "ARG") {
        None => Err(text!(
            "image: the Dockerfile has no instructions; it starts with FROM <base image>",
            "镜像:Dockerfile 没有任何指令;它应以 FROM <基础镜像> 开头"
        )),
        Some((line, k, rest)) if k == "FROM" => {
            if rest.is_empty() {
                Err(text!(
                    "image: Dockerfile line {line}: FROM needs a base image",
                    "镜像:Dockerfile 第 {line} 行:FROM 需要指定基础镜像"
                ))
            } else {
                Ok(())
            }
        }
        Some((line, k, _)) => Err(text!(
            "image: Dockerfile line {line}: {k} before FROM; a Dockerfile starts with FROM <base image>",
            "镜像:Dockerfile 第 {line} 行:{k} 出现在 FROM 之前;Dockerfile 应以 FROM <基础镜像> 开头"
        )),
    }
}

/// The install command for `tools` that works on Alpine, Debian/Ubuntu and RHEL-like bases.
pub fn install_line(tools: &[String]) -> Option<String> {
    let pick = |which: fn(&super::Tool) -> &'static str| -> Vec<&'static str> {
        tools
            .iter()
            .filter_map(|t| TOOLS.iter().find(|x| x.name == t))
            .map(which)
            .collect()
    };
    let (apk, apt, dnf) = (pick(|t| t.apk), pick(|t| t.apt), pick(|t| t.dnf));
    if apk.is_empty() {
        return None;
    }
    Some(format!(
        "RUN if command -v apk >/dev/null 2>&1; then apk add --no-cache {}; \\\n    elif command -v apt-get >/dev/null 2>&1; then apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*; \\\n    elif command -v microdnf >/dev/null 2>&1; then microdnf install -y {} && microdnf clean all; \\\n    else echo 'wharf: no package manager for the debug tools' >&2; exit 1; fi",
        apk.join(" "),
        apt.join(" "),
        dnf.join(" ")
    ))
}

/// The Dockerfile the image stage builds: the user's, with the debug tools installed right
/// after the last `FROM` (so as the base image's user, before any `USER` of the app).
pub fn with_tools(dockerfile: &str, tools: &[String]) -> String {
    let Some(install) = install_line(tools) else {
        return dockerfile.to_string();
    };
    let last_from = instructions(dockerfile)
        .iter()
        .rev()
        .find(|(_, k, _)| k == "FROM")
        .map(|(line, _, _)| *line);
    let Some(from_line) = last_from else {
        return dockerfile.to_string();
    };
    let mut out = String::new();
    let mut inserted = false;
    for (i, line) in dockerfile.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        // NB: after the FROM line and its `\` continuations
        if i + 1 >= from_line && !inserted && !line.trim_end().ends_with('\\') {
            out.push_str(&format!(
                "# debug tools bundled by Wharf: {}\n{install}\n",
                tools.join(", ")
            ));
            inserted = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_must_come_first() {
        assert!(check("FROM alpine\nRUN true").is_ok());
        assert!(check("# comment\nARG V=1\n\nFROM alpine:$V").is_ok());
        assert_eq!(
            check("RUN true\nFROM alpine").unwrap_err().en,
            "image: Dockerfile line 1: RUN before FROM; a Dockerfile starts with FROM <base image>"
        );
        assert!(check("").unwrap_err().en.contains("no instructions"));
        assert!(check("# only a comment")
            .unwrap_err()
            .en
            .contains("no instructions"));
        assert!(check("from")
            .unwrap_err()
            .en
            .contains("FROM needs a base image"));
    }

    #[test]
    fn tools_go_after_the_last_from() {
        let df = "FROM maven AS build\nRUN mvn package\nFROM eclipse-temurin:17-jre \\\n  \nUSER app\nCMD [\"java\"]\n";
        let out = with_tools(df, &["curl".into(), "mysql-client".into()]);
        let lines: Vec<&str> = out.lines().collect();
        let run = lines
            .iter()
            .position(|l| l.starts_with("RUN if command -v apk"))
            .expect("install line");
        let user = lines.iter().position(|l| *l == "USER app").unwrap();
        let from = lines
            .iter()
            .position(|l| l.starts_with("FROM eclipse-temurin"))
            .unwrap();
        assert!(from < run && run < user, "{out}");
        assert!(
            out.contains("apk add --no-cache curl mariadb-client"),
            "{out}"
        );
        assert!(
            out.contains("apt-get install -y --no-install-recommends curl default-mysql-client"),
            "{out}"
        );
    }

    #[test]
    fn no_tools_leaves_the_dockerfile_alone() {
        assert_eq!(with_tools("FROM a\n", &[]), "FROM a\n");
        assert_eq!(with_tools("FROM a\n", &["unknown".into()]), "FROM a\n");
    }
}
