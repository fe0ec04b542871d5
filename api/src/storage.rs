//! Storage per tenant: the cluster's StorageClasses (what each is: Ceph RBD block, CephFS
//! shared, local) and the tenant's PersistentVolumeClaims, with the pods that mount them.
//! Claims are created, expanded (where the class allows) and deleted (never while a pod
//! mounts one) from the storage page.

use crate::{text, Text};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a class gives, from its provisioner (Rook-Ceph's CSI drivers by their names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassKind {
    /// `*.rbd.csi.ceph.com`: a block device for one node at a time (databases).
    CephBlock,
    /// `*.cephfs.csi.ceph.com`: a shared file system many pods mount at once.
    CephFs,
    /// A folder on one node (`local-path`, `kubernetes.io/no-provisioner`, host paths).
    Local,
    Other,
}

impl ClassKind {
    pub fn of(provisioner: &str) -> ClassKind {
        if provisioner.ends_with(".rbd.csi.ceph.com") || provisioner == "kubernetes.io/rbd" {
            ClassKind::CephBlock
        } else if provisioner.ends_with(".cephfs.csi.ceph.com") {
            ClassKind::CephFs
        } else if provisioner.contains("local") || provisioner == "kubernetes.io/no-provisioner" {
            ClassKind::Local
        } else {
            ClassKind::Other
        }
    }

    pub fn label(self) -> Text {
        match self {
            ClassKind::CephBlock => text!(
                "Ceph RBD block: one pod's disk (databases)",
                "Ceph RBD 块存储:单个 Pod 独占(适合数据库)"
            ),
            ClassKind::CephFs => text!(
                "CephFS shared: many pods read and write",
                "CephFS 共享文件系统:多个 Pod 同时读写"
            ),
            ClassKind::Local => text!("a folder on one node", "单个节点上的本地目录"),
            ClassKind::Other => text!("other", "其他"),
        }
    }

    /// The access modes that make sense for the kind (the first is the form's default).
    pub fn access_modes(self) -> &'static [&'static str] {
        match self {
            ClassKind::CephFs => &["ReadWriteMany", "ReadWriteOnce", "ReadOnlyMany"],
            _ => &["ReadWriteOnce"],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    pub name: String,
    pub provisioner: String,
    pub kind: ClassKind,
    pub default: bool,
    pub allow_expansion: bool,
    /// `Immediate` or `WaitForFirstConsumer`.
    pub binding_mode: String,
    /// `Delete` or `Retain`.
    pub reclaim_policy: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimRow {
    pub namespace: String,
    pub name: String,
    pub class: String,
    /// What was asked for (`spec.resources.requests.storage`).
    pub requested: String,
    /// What the volume has (`status.capacity.storage`), once bound.
    pub capacity: Option<String>,
    pub access_modes: Vec<String>,
    /// `Pending`, `Bound`, `Lost`; `Terminating` while deleted but still mounted.
    pub phase: String,
    /// Why it is pending, from its latest warning or normal event.
    pub message: Option<String>,
    pub volume: Option<String>,
    /// Pods (not finished) that mount it.
    pub used_by: Vec<String>,
    /// Bytes written on it, as the kubelet of a pod mounting it reports (through Prometheus).
    #[serde(default)]
    pub used_bytes: Option<u64>,
    pub created: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageView {
    pub classes: Vec<ClassRow>,
    pub claims: Vec<ClaimRow>,
}

/// A new claim, as the storage page sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimForm {
    pub namespace: String,
    pub name: String,
    /// Empty: the cluster's default class.
    pub class: String,
    /// `1Gi`, `500Mi`, `10G`.
    pub size: String,
    pub access_mode: String,
}

/// A byte count as people read sizes: `512 B`, `12.0 KiB`, `1.5 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

pub const ACCESS_MODES: [&str; 3] = ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"];

/// Bytes of a storage size: a whole or decimal number with a binary (`Ki`…`Ei`) or decimal
/// (`k`…`E`) suffix, or none; `None` for what is not one (or is zero or negative).
pub fn size_bytes(value: &str) -> Option<u128> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(split);
    let factor: u128 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        _ => return None,
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') || frac.len() > 9 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_value: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let scale = 10u128.pow(frac.len() as u32);
    let bytes = whole.checked_mul(factor)? + frac_value.checked_mul(factor)? / scale;
    (bytes > 0).then_some(bytes)
}

/// A storage size a claim may ask for: [`size_bytes`] parses it.
pub fn check_size(value: &str) -> Result<u128, Text> {
    size_bytes(value).ok_or_else(|| {
        text!(
            "size: '{value}' is not a storage size (examples: 1Gi, 500Mi, 10G)",
            "容量:“{value}”不是有效的存储容量(例如 1Gi、500Mi、10G)"
        )
    })
}

/// Every problem with a new claim's form, for the page and the server alike.
pub fn check_form(form: &ClaimForm) -> Vec<Text> {
    let mut errors = Vec::new();
    if let Err(e) = crate::workloads::validate::name(&text!("name", "名称"), &form.name) {
        errors.push(e);
    }
    if let Err(e) = check_size(&form.size) {
        errors.push(e);
    }
    if !ACCESS_MODES.contains(&form.access_mode.as_str()) {
        let (mode, known) = (&form.access_mode, ACCESS_MODES.join(", "));
        errors.push(text!(
            "access mode: '{mode}' is not one of {known}",
            "访问模式:“{mode}”不是 {known} 之一"
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(12 * 1024), "12.0 KiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }

    #[test]
    fn sizes_are_kubernetes_quantities() {
        assert_eq!(size_bytes("1Gi"), Some(1 << 30));
        assert_eq!(size_bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(size_bytes("500M"), Some(500_000_000));
        assert_eq!(size_bytes("2048"), Some(2048));
        assert_eq!(size_bytes(".5Ki"), Some(512));
        for bad in [
            "",
            "0",
            "1GB",
            "-1Gi",
            "1..2Gi",
            "Gi",
            "1 Gi",
            "lots",
            "0.0000000001Gi",
        ] {
            assert_eq!(size_bytes(bad), None, "{bad}");
        }
        assert!(check_size("1GB").unwrap_err().zh.contains("1GB"));
    }

    #[test]
    fn a_form_names_each_bad_field() {
        let good = ClaimForm {
            namespace: "alpha".into(),
            name: "redis-data".into(),
            class: String::new(),
            size: "1Gi".into(),
            access_mode: "ReadWriteOnce".into(),
        };
        assert!(check_form(&good).is_empty());
        let bad = ClaimForm {
            name: "Redis_Data".into(),
            size: "1GB".into(),
            access_mode: "RWX".into(),
            ..good
        };
        let errors: Vec<String> = check_form(&bad).into_iter().map(|e| e.en).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn classes_are_known_by_their_provisioner() {
        assert_eq!(
            ClassKind::of("rook-ceph.rbd.csi.ceph.com"),
            ClassKind::CephBlock
        );
        assert_eq!(
            ClassKind::of("rook-ceph.cephfs.csi.ceph.com"),
            ClassKind::CephFs
        );
        assert_eq!(ClassKind::of("rancher.io/local-path"), ClassKind::Local);
        assert_eq!(ClassKind::of("ebs.csi.aws.com"), ClassKind::Other);
    }
}

/// One entry of a folder on a volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEntry {
    pub name: String,
    /// A folder (a symbolic link is shown as what it is, not followed).
    pub dir: bool,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

/// A folder of a claim's volume, read through a running pod that mounts it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeListing {
    /// The pod and container the files are reached through (downloads and uploads use the
    /// terminal's transfer routes with them).
    pub pod: String,
    pub container: String,
    /// Where the claim is mounted in that container.
    pub mount_path: String,
    /// The folder listed, relative to the volume's root ("" for the root).
    pub path: String,
    /// Folders first, then files, by name.
    pub entries: Vec<VolumeEntry>,
    /// More entries than [`MAX_VOLUME_ENTRIES`]: only the first are listed.
    pub truncated: bool,
    /// The pod is a files pod Wharf started for the claim (no app's pod mounts it), which
    /// the browser offers to stop.
    #[serde(default)]
    pub files_pod: bool,
}

/// The most entries of one folder listed.
pub const MAX_VOLUME_ENTRIES: usize = 2000;

/// A folder on a volume as the user typed or clicked it: relative to the volume's root,
/// without `.` or `..` parts, empty parts or control characters. Returns it normalized
/// (no leading or trailing `/`; "" for the root).
pub fn volume_path(path: &str) -> Result<String, Text> {
    let mut parts = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." || part.chars().any(char::is_control) {
            return Err(text!(
                "folder '{path}': a path inside the volume, without '.' or '..' parts",
                "文件夹“{path}”:应为存储卷内的路径,不能包含“.”或“..”"
            ));
        }
        parts.push(part);
    }
    Ok(parts.join("/"))
}

/// `path` (checked by [`volume_path`]) as a path in the container where the volume is mounted
/// at `mount_path`.
pub fn in_container(mount_path: &str, path: &str) -> String {
    let root = mount_path.trim_end_matches('/');
    if path.is_empty() {
        if root.is_empty() {
            "/".into()
        } else {
            root.into()
        }
    } else {
        format!("{root}/{path}")
    }
}

#[cfg(test)]
mod volume_path_tests {
    use super::*;

    #[test]
    fn folders_stay_inside_the_volume() {
        assert_eq!(volume_path("").unwrap(), "");
        assert_eq!(volume_path("/").unwrap(), "");
        assert_eq!(volume_path("/a//b/").unwrap(), "a/b");
        for bad in ["..", "a/../..", "./a", "a/\n", "a/./b"] {
            assert!(volume_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(in_container("/data", ""), "/data");
        assert_eq!(in_container("/data/", "a/b"), "/data/a/b");
    }
}
