//! Programs a container's image lacks, so the console's "no shell" and "no tar" paths can
//! be tried on the demo cluster.
//!
//! A container runs on the host, which has every program; the pod annotation
//! `sim.wharf.dev/missing-programs: "tar,bash"` (or `*`: a distroless image with no program
//! at all) says which ones its image would not have. Images whose name contains
//! `distroless` lack everything unless the annotation says otherwise. Ephemeral (debug)
//! containers come from tools images and lack nothing.
//!
//! Starting a missing program — a container's command or an exec — fails as runc does:
//! `exec: "tar": executable file not found in $PATH` (`stat /bin/tar: no such file or
//! directory` for a path), and the bash→sh fallback of [`crate::process::resolve_program`]
//! does not apply to it. Programs started from inside a script (`sh -c 'tar …'`) are not
//! checked.

use std::collections::BTreeSet;

/// Pod annotation: comma-separated program names the containers' images lack; `*` for all.
pub const ANN_MISSING_PROGRAMS: &str = "sim.wharf.dev/missing-programs";

/// Which programs a container's image lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MissingPrograms {
    /// Every program is there (the host's).
    #[default]
    None,
    /// No program at all (distroless).
    All,
    /// These base names (`tar`, `bash`).
    Some(BTreeSet<String>),
}

impl MissingPrograms {
    /// From the annotation's value: `"tar, bash"`, `"*"`, or empty for none.
    pub fn parse(value: &str) -> Self {
        let names: BTreeSet<String> = value
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect();
        if names.contains("*") {
            MissingPrograms::All
        } else if names.is_empty() {
            MissingPrograms::None
        } else {
            MissingPrograms::Some(names)
        }
    }

    /// What a pod's (non-ephemeral) container lacks: the annotation when the pod has one,
    /// else everything for a distroless image, else nothing.
    pub fn for_container(annotation: Option<&str>, image: &str) -> Self {
        match annotation {
            Some(v) => Self::parse(v),
            None if image.to_ascii_lowercase().contains("distroless") => MissingPrograms::All,
            None => MissingPrograms::None,
        }
    }

    /// Whether the image lacks `argv0` (a name or a path; its base name counts).
    pub fn lacks(&self, argv0: &str) -> bool {
        let base = argv0.rsplit('/').next().unwrap_or(argv0);
        match self {
            MissingPrograms::None => false,
            MissingPrograms::All => true,
            MissingPrograms::Some(names) => names.contains(base),
        }
    }

    /// `Err` with the runtime's message (see [`crate::process::start_error_message`]) when
    /// the image lacks `argv0`.
    pub fn check(&self, argv0: &str) -> Result<(), String> {
        if self.lacks(argv0) {
            let not_found = std::io::Error::from(std::io::ErrorKind::NotFound);
            return Err(crate::process::start_error_message(argv0, &not_found));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_wins_and_distroless_lacks_everything() {
        let some = MissingPrograms::for_container(Some(" tar, bash ,"), "busybox");
        assert!(some.lacks("tar") && some.lacks("/bin/bash") && !some.lacks("sh"));
        assert_eq!(
            MissingPrograms::for_container(None, "gcr.io/distroless/static:nonroot"),
            MissingPrograms::All
        );
        assert_eq!(
            MissingPrograms::for_container(Some(""), "gcr.io/distroless/static"),
            MissingPrograms::None
        );
        assert_eq!(MissingPrograms::parse("sh,*"), MissingPrograms::All);
        assert!(!MissingPrograms::for_container(None, "nginx").lacks("tar"));
    }

    #[test]
    fn missing_programs_fail_with_runc_words() {
        let m = MissingPrograms::parse("tar,bash");
        assert_eq!(
            m.check("tar").unwrap_err(),
            "exec: \"tar\": executable file not found in $PATH"
        );
        assert_eq!(
            m.check("/bin/bash").unwrap_err(),
            "exec: \"/bin/bash\": stat /bin/bash: no such file or directory"
        );
        assert!(m.check("sh").is_ok());
    }
}
