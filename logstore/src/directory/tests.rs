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
