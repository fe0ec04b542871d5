//! One test suite run against every [`Directory`] (tantivy's `directory/tests.rs` habit).

use super::*;

fn suite(dir: &dyn Directory) {
    // append, read while growing
    let mut w = dir.open_append("a/b/one.seg").unwrap();
    w.append(b"hello ").unwrap();
    let r = dir.open_read("a/b/one.seg").unwrap();
    assert_eq!(r.len().unwrap(), 6);
    w.append(b"world").unwrap();
    w.sync().unwrap();
    let mut buf = [0u8; 5];
    r.read_exact_at(6, &mut buf).unwrap();
    assert_eq!(&buf, b"world");
    assert!(
        r.read_exact_at(8, &mut buf).is_err(),
        "reading past the end fails"
    );
    // truncate
    dir.truncate("a/b/one.seg", 5).unwrap();
    assert_eq!(dir.read_all("a/b/one.seg").unwrap().unwrap(), b"hello");
    // reopen for append continues at the end
    let mut w2 = dir.open_append("a/b/one.seg").unwrap();
    w2.append(b"!").unwrap();
    assert_eq!(dir.read_all("a/b/one.seg").unwrap().unwrap(), b"hello!");
    // atomic write replaces
    dir.atomic_write("manifest.json", b"v1").unwrap();
    dir.atomic_write("manifest.json", b"v2").unwrap();
    assert_eq!(dir.read_all("manifest.json").unwrap().unwrap(), b"v2");
    assert!(dir.read_all("missing").unwrap().is_none());
    // list
    assert_eq!(dir.list("a").unwrap(), vec!["b".to_string()]);
    assert_eq!(dir.list("a/b").unwrap(), vec!["one.seg".to_string()]);
    assert!(dir.list("nope").unwrap().is_empty());
    assert!(dir.list("").unwrap().contains(&"manifest.json".to_string()));
    dir.sync_dir("a/b").unwrap();
    // delete keeps open readers working (unix semantics), removes the name
    let r = dir.open_read("a/b/one.seg").unwrap();
    dir.delete("a/b/one.seg").unwrap();
    dir.delete("a/b/one.seg").unwrap();
    assert!(dir.read_all("a/b/one.seg").unwrap().is_none());
    let mut b1 = [0u8; 1];
    r.read_exact_at(0, &mut b1).unwrap();
    assert_eq!(&b1, b"h");
    assert!(dir.open_read("a/b/one.seg").is_err());
}

#[test]
fn memory_directory() {
    suite(&MemoryDirectory::new());
}

#[test]
fn file_directory() {
    let tmp = tempfile::tempdir().unwrap();
    suite(&FileDirectory::open(tmp.path()).unwrap());
}

/// One writer at a time, refused at once; the next one gets in after a drop.
fn lock_suite(dir: &dyn Directory, again: &dyn Directory) {
    let first = dir.lock_writer().unwrap();
    for d in [dir, again] {
        let err = d.lock_writer().err().expect("a second writer is refused");
        assert!(matches!(err, crate::Error::Locked { .. }), "{err}");
    }
    drop(first);
    let second = again.lock_writer().unwrap();
    assert!(dir.lock_writer().is_err());
    drop(second);
    dir.lock_writer().unwrap();
}

#[test]
fn memory_directory_lock() {
    let dir = MemoryDirectory::new();
    lock_suite(&dir, &dir.clone());
}

#[test]
fn file_directory_lock() {
    let tmp = tempfile::tempdir().unwrap();
    // Two handles on the same folder: two open files, as in two processes.
    let a = FileDirectory::open(tmp.path()).unwrap();
    let b = FileDirectory::open_existing(tmp.path()).unwrap();
    lock_suite(&a, &b);
    let err = a
        .lock_writer()
        .and_then(|_l| b.lock_writer())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(&tmp.path().display().to_string()),
        "the error names the folder: {err}"
    );
}

#[test]
fn open_existing_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("not-here");
    assert!(FileDirectory::open_existing(&missing).is_err());
    assert!(!missing.exists());
}
