//! Checks of what a user types into the deploy form, shared by the page (instant feedback)
//! and the server (the real gate). Each error names the field and says what is expected.

use super::DeployForm;
use crate::{text, Text};

/// A DNS-1123 label: what Kubernetes requires of Service and most app names.
/// `field` names the input in both languages.
pub fn name(field: &Text, value: &str) -> Result<(), Text> {
    if value.is_empty() {
        return Err(text!("{field}: required", "{field}:必填"));
    }
    let got = value.len();
    if got > 63 {
        return Err(text!(
            "{field}: at most 63 characters (got {got})",
            "{field}:最多 63 个字符(当前 {got} 个)"
        ));
    }
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = value.as_bytes()[0].is_ascii_alphanumeric()
        && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric();
    if !ok_chars || !ok_ends {
        return Err(text!(
            "{field}: '{value}' must be lower-case letters, digits and '-', starting and ending with a letter or digit",
            "{field}:“{value}”只能包含小写字母、数字和“-”,且以字母或数字开头和结尾"
        ));
    }
    Ok(())
}

fn path_component_ok(c: &str) -> bool {
    // [a-z0-9]+ separated by '.', '_', '__' or '-'+
    !c.is_empty()
        && c.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

/// An image reference: `[registry[:port]/]repo/path[:tag][@sha256:digest]`.
pub fn image(value: &str) -> Result<(), Text> {
    let bad = |why: Text| {
        Err(text!(
            "image: '{value}' is not a valid image reference ({why})",
            "镜像:“{value}”不是有效的镜像地址({why})"
        ))
    };
    if value.is_empty() {
        return Err(text!(
            "image: required (e.g. nginx:1.25 or registry.example.com/team/app:1.0)",
            "镜像:必填(例如 nginx:1.25 或 registry.example.com/team/app:1.0)"
        ));
    }
    if value.len() > 255 || value.chars().any(char::is_whitespace) {
        return bad(text!(
            "no spaces, at most 255 characters",
            "不能有空格,最多 255 个字符"
        ));
    }
    let (rest, digest) = match value.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (value, None),
    };
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return bad(text!(
                "a digest is sha256: and 64 lower-case hex digits",
                "摘要应为 sha256: 加 64 位小写十六进制数"
            ));
        }
    }
    let mut parts: Vec<&str> = rest.split('/').collect();
    // the tag is after the last ':' of the last component
    let last = parts.pop().unwrap_or_default();
    let (repo_last, tag) = match last.split_once(':') {
        Some((r, t)) => (r, Some(t)),
        None => (last, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_');
        if !ok {
            return bad(text!(
                "a tag is letters, digits, '_', '.', '-', up to 128",
                "标签只能包含字母、数字、“_”、“.”、“-”,最多 128 个字符"
            ));
        }
    }
    // a first component with '.' or ':' or 'localhost' is a registry host
    if let Some(first) = parts.first() {
        if first.contains('.') || first.contains(':') || *first == "localhost" {
            let (host, port) = match first.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (*first, None),
            };
            let host_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
            if !host_ok || !port_ok {
                return bad(text!("the registry host is not valid", "镜像仓库地址无效"));
            }
            parts.remove(0);
        }
    }
    parts.push(repo_last);
    if !parts.iter().all(|c| path_component_ok(c)) {
        return bad(text!(
            "repository names are lower-case letters, digits and separators",
            "仓库名只能包含小写字母、数字和分隔符"
        ));
    }
    Ok(())
}

/// A resource quantity such as `250m`, `0.5`, `128Mi`, `1G`; empty means "not set".
pub fn quantity(field: &Text, value: &str) -> Result<(), Text> {
    if value.is_empty() {
        return Ok(());
    }
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, suffix) = value.split_at(split);
    let num_ok = !num.is_empty() && num.parse::<f64>().map(|n| n >= 0.0).unwrap_or(false);
    let suffix_ok = matches!(
        suffix,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    );
    if num_ok && suffix_ok {
        Ok(())
    } else {
        Err(text!(
            "{field}: '{value}' is not a quantity (examples: 250m, 0.5, 128Mi, 1Gi)",
            "{field}:“{value}”不是有效的数量(例如 250m、0.5、128Mi、1Gi)"
        ))
    }
}

pub fn env_name(value: &str) -> Result<(), Text> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !value.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(text!(
            "environment variable '{value}': use letters, digits, '_', '-', '.', not starting with a digit",
            "环境变量“{value}”:只能使用字母、数字、“_”、“-”、“.”,且不能以数字开头"
        ))
    }
}

pub const MAX_REPLICAS: i32 = 500;

pub fn replicas(value: i32) -> Result<(), Text> {
    if !(0..=MAX_REPLICAS).contains(&value) {
        return Err(text!(
            "replicas: between 0 and {MAX_REPLICAS} (got {value})",
            "副本数:应在 0 到 {MAX_REPLICAS} 之间(当前 {value})"
        ));
    }
    Ok(())
}

/// Every problem of the form at once, so the user can fix them in one go.
pub fn deploy_form(form: &DeployForm) -> Vec<Text> {
    let mut errors = Vec::new();
    let mut check = |r: Result<(), Text>| {
        if let Err(e) = r {
            errors.push(e)
        }
    };
    check(name(&text!("name", "名称"), &form.name));
    check(name(&text!("namespace", "命名空间"), &form.namespace));
    check(image(&form.image));
    check(replicas(form.replicas));
    if let Some(port) = form.port {
        if port == 0 {
            check(Err(text!(
                "port: between 1 and 65535",
                "端口:应在 1 到 65535 之间"
            )));
        }
    }
    check(quantity(
        &text!("CPU request", "CPU 请求"),
        &form.cpu_request,
    ));
    check(quantity(&text!("CPU limit", "CPU 上限"), &form.cpu_limit));
    check(quantity(
        &text!("memory request", "内存请求"),
        &form.memory_request,
    ));
    check(quantity(
        &text!("memory limit", "内存上限"),
        &form.memory_limit,
    ));
    for (k, _) in &form.env {
        check(env_name(k));
    }
    for (k, _) in &form.secret_env {
        check(env_name(k));
    }
    if !form.image_pull_secret.is_empty() && !crate::config::is_object_name(&form.image_pull_secret)
    {
        let s = &form.image_pull_secret;
        check(Err(text!(
            "image pull secret '{s}': not a valid name",
            "镜像拉取凭据“{s}”:名称无效"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, _) in form.env.iter().chain(&form.secret_env) {
        if !seen.insert(k) {
            check(Err(text!(
                "environment variable '{k}' is given twice",
                "环境变量“{k}”重复"
            )));
        }
    }
    if let Err(alerts) = form.alerts.parse() {
        errors.extend(alerts);
    }
    errors.extend(super::pod::check(
        &form.mounts,
        &form.probes,
        &form.sidecars,
        form.port,
        &form.name,
    ));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_1123_labels() {
        let field = text!("name", "名称");
        assert!(name(&field, "shop-web").is_ok());
        assert!(name(&field, "a1").is_ok());
        for bad in [
            "",
            "Shop",
            "-shop",
            "shop-",
            "shop_web",
            "shop.web",
            &"a".repeat(64),
        ] {
            assert!(name(&field, bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn image_references_are_checked_like_a_registry_would() {
        for good in [
            "nginx",
            "nginx:1.25",
            "library/nginx:1.25-alpine",
            "registry.example.com:5000/team/app:1.0",
            "localhost/app",
            "ghcr.io/o/r@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(image(good).is_ok(), "{good} should pass: {:?}", image(good));
        }
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx: 1",
            "nginx:-x",
            "reg:port/app",
            "a//b",
            "app@sha256:xyz",
            "UPPER/case",
        ] {
            assert!(image(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn quantities_take_kubernetes_suffixes() {
        for good in ["", "250m", "0.5", "1", "128Mi", "1Gi", "500M"] {
            assert!(quantity(&Text::verbatim("q"), good).is_ok(), "{good}");
        }
        for bad in ["-1", "1mb", "abc", "1.2.3", "Mi"] {
            assert!(quantity(&Text::verbatim("q"), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_form_reports_every_problem_at_once() {
        let form = DeployForm {
            namespace: "alpha".into(),
            name: "Bad Name".into(),
            image: "not an image".into(),
            replicas: -1,
            port: Some(0),
            env: vec![("1X".into(), "v".into())],
            ..DeployForm::default()
        };
        let errors = deploy_form(&form);
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors
            .iter()
            .any(|e| e.en.starts_with("replicas") && e.zh.starts_with("副本数")));
    }
}
