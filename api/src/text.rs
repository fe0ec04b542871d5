//! [`Text`]: a sentence for a user in the two languages the console speaks, built with
//! [`text!`](crate::text!). The server words every refusal, validation message and success
//! sentence this way; the page shows the reader's language and the log the English.

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::fmt;

/// A sentence for a user in the two languages the console speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

thread_local! {
    /// Set while `text!` formats its Chinese half, so that a `Text` argument shows its Chinese.
    static IN_ZH: Cell<bool> = const { Cell::new(false) };
}

impl Text {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Text {
        Text {
            en: en.into(),
            zh: zh.into(),
        }
    }

    /// Words that are not language: a name, a path, the Kubernetes API server's own message,
    /// a tool's output. The same in both languages.
    pub fn verbatim(s: impl Into<String>) -> Text {
        let s = s.into();
        Text {
            en: s.clone(),
            zh: s,
        }
    }

    /// The sentence in `zh` (true) or English.
    pub fn pick(&self, zh: bool) -> &str {
        if zh {
            &self.zh
        } else {
            &self.en
        }
    }

    /// Several sentences as one, `en_sep` between the English ones, `zh_sep` between the Chinese.
    pub fn join(parts: &[Text], en_sep: &str, zh_sep: &str) -> Text {
        let en: Vec<&str> = parts.iter().map(|t| t.en.as_str()).collect();
        let zh: Vec<&str> = parts.iter().map(|t| t.zh.as_str()).collect();
        Text::new(en.join(en_sep), zh.join(zh_sep))
    }

    /// Runs `f` with `Text`s displaying their Chinese (what `text!` does for its second half).
    #[doc(hidden)]
    pub fn in_zh(f: impl FnOnce() -> String) -> String {
        let before = IN_ZH.with(|z| z.replace(true));
        let s = f();
        IN_ZH.with(|z| z.set(before));
        s
    }
}

/// English, except inside the Chinese half of [`text!`](crate::text!), where a `Text`
/// argument (a field name, a nested sentence) shows its Chinese.
impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.pick(IN_ZH.with(Cell::get)))
    }
}

/// `text!("name '{name}' is taken", "名称“{name}”已被占用")`: both literals go to `format!`
/// (inline captures and positional arguments after them both work; arguments are evaluated
/// once per language, so keep them free of side effects). A [`Text`] argument shows its
/// Chinese in the Chinese sentence.
#[macro_export]
macro_rules! text {
    ($en:literal, $zh:literal $(, $arg:expr)* $(,)?) => {
        $crate::Text {
            en: ::std::format!($en $(, $arg)*),
            zh: $crate::Text::in_zh(|| ::std::format!($zh $(, $arg)*)),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn the_macro_takes_captures_and_arguments() {
        let name = "alpha";
        let t = text!("tenant '{name}' exists", "租户“{name}”已存在");
        assert_eq!(t, Text::new("tenant 'alpha' exists", "租户“alpha”已存在"));
        let t = text!("{} of {}", "{1} 中的 {0}", 3, 5);
        assert_eq!(t.en, "3 of 5");
        assert_eq!(t.zh, "5 中的 3");
        let plain = text!("done", "完成");
        assert_eq!(plain.to_string(), "done");
    }

    #[test]
    fn a_text_argument_speaks_the_language_of_its_sentence() {
        let field = text!("memory", "内存");
        let t = text!("{field}: required", "{field}:必填");
        assert_eq!(t, Text::new("memory: required", "内存:必填"));
        // outside the macro a Text displays its English
        assert_eq!(format!("{field}"), "memory");
    }

    #[test]
    fn verbatim_is_the_same_in_both_languages() {
        let t = Text::verbatim("pods \"x\" not found");
        assert_eq!(t.en, t.zh);
    }

    #[test]
    fn serde_round_trip() {
        let t = text!("saved", "已保存");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"en":"saved","zh":"已保存"}"#);
        assert_eq!(serde_json::from_str::<Text>(&json).unwrap(), t);
    }

    /// A `Text::verbatim` (or an English-only `text!`) used for a sentence shows up here: each
    /// refusal below must read differently in Chinese, with Chinese in it.
    #[test]
    fn every_validator_refusal_is_translated() {
        use crate::monitoring::receivers::{check_email, check_name, check_url};
        use crate::monitoring::silences::{parse_duration, NewSilence};
        use crate::monitoring::AlertThresholds;
        use crate::pipelines::{validate as pipelines, DesignerOptions, PipelineSpec};
        use crate::workloads::{validate as workloads, DeployForm};
        use crate::{admin, logs::LogSearch, time};

        let field = text!("name", "名称");
        let mut refusals: Vec<Text> = vec![
            admin::check_password("short").unwrap_err(),
            admin::check_name(&field, "Bad_Name").unwrap_err(),
            admin::check_quantity(&field, "4GB").unwrap_err(),
            admin::check_host_pattern("*.com").unwrap_err(),
            admin::check_image_prefix("alpha/").unwrap_err(),
            admin::check_image_prefix("registry.example.com/").unwrap_err(),
            admin::check_tenant(&admin::TenantForm {
                name: "gamma".into(),
                ..Default::default()
            })
            .unwrap_err(),
            workloads::name(&field, "").unwrap_err(),
            workloads::image("Not An Image").unwrap_err(),
            workloads::quantity(&field, "lots").unwrap_err(),
            workloads::env_name("1X").unwrap_err(),
            workloads::replicas(-1).unwrap_err(),
            pipelines::pipeline_name(&"x".repeat(60)).unwrap_err(),
            pipelines::git_url("file:///srv/repo.git", false).unwrap_err(),
            pipelines::git_ref("-bad").unwrap_err(),
            pipelines::repository("Bad Repo").unwrap_err(),
            crate::pipelines::dockerfile::check("RUN true").unwrap_err(),
            check_name("Ops").unwrap_err(),
            check_url("ftp://x/y").unwrap_err(),
            check_email("nobody").unwrap_err(),
            parse_duration("soon").unwrap_err(),
            NewSilence::default().check(chrono::Utc::now()).unwrap_err(),
            time::local_to_rfc3339(&field, "yesterday").unwrap_err(),
            LogSearch {
                text: "(".into(),
                regex: true,
            }
            .compile()
            .unwrap_err(),
        ];
        refusals.extend(workloads::deploy_form(&DeployForm {
            port: Some(0),
            ..Default::default()
        }));
        refusals.extend(pipelines::pipeline(
            &PipelineSpec::default(),
            &DesignerOptions::default(),
        ));
        refusals.extend(
            AlertThresholds {
                cpu_percent: "150".into(),
                threads: "0".into(),
                duration: "soon".into(),
                ..Default::default()
            }
            .parse()
            .unwrap_err(),
        );
        let cjk = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        for t in refusals {
            assert!(!t.en.is_empty() && t.en != t.zh && cjk(&t.zh), "{t:?}");
            assert!(!cjk(&t.en), "{t:?}");
        }
    }
}
