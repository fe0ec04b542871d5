//! The kubelet's folder and file names:
//! `<namespace>_<pod>_<uid>/<container>/<n>.log[.<YYYYMMDD-hhmmss>[.gz]]`.

/// `(namespace, pod, uid)` from a pod folder name; `None` if it is not one.
/// Namespaces and pod names are DNS labels/subdomains, so they hold no `_`.
pub fn parse_pod_dir(name: &str) -> Option<(&str, &str, &str)> {
    let mut parts = name.split('_');
    let (ns, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && !ns.is_empty() && !pod.is_empty() && !uid.is_empty())
        .then_some((ns, pod, uid))
}

/// A log file name inside a container folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileName {
    /// The restart count `n` of `<n>.log`.
    pub restart: u64,
    /// The rotation stamp (`None` for the live file).
    pub rotated: Option<String>,
    pub gz: bool,
}

impl LogFileName {
    pub fn parse(name: &str) -> Option<Self> {
        let (name, gz) = match name.strip_suffix(".gz") {
            Some(n) => (n, true),
            None => (name, false),
        };
        let (n, rest) = name.split_once(".log")?;
        let restart = n.parse().ok()?;
        let rotated = match rest {
            "" => None,
            r => Some(r.strip_prefix('.')?.to_owned())
                .filter(|s| !s.is_empty() && !s.ends_with(".tmp")),
        };
        if rest.is_empty() && gz {
            return None;
        }
        if !rest.is_empty() && rotated.is_none() {
            return None;
        }
        Some(LogFileName {
            restart,
            rotated,
            gz,
        })
    }

    /// The live file the kubelet still writes to.
    pub fn is_live(&self) -> bool {
        self.rotated.is_none()
    }

    /// Name of the uncompressed twin of a `.gz` file.
    pub fn plain_name(&self) -> String {
        match &self.rotated {
            Some(r) => format!("{}.log.{r}", self.restart),
            None => format!("{}.log", self.restart),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_pod_dir("shop_web-0_1234-abcd"),
            Some(("shop", "web-0", "1234-abcd"))
        );
        assert_eq!(parse_pod_dir("shop_web-0"), None);
        assert_eq!(parse_pod_dir("a_b_c_d"), None);
        let live = LogFileName::parse("0.log").unwrap();
        assert!(live.is_live() && !live.gz);
        let rot = LogFileName::parse("0.log.20240501-100200").unwrap();
        assert_eq!(rot.rotated.as_deref(), Some("20240501-100200"));
        let gz = LogFileName::parse("2.log.20240501-100200.gz").unwrap();
        assert!(gz.gz && gz.restart == 2);
        assert_eq!(gz.plain_name(), "2.log.20240501-100200");
        for bad in ["x.log", "0.log.gz", "0.txt", "0.log.", "0.log.20240501.tmp"] {
            assert_eq!(LogFileName::parse(bad), None, "{bad}");
        }
    }
}
