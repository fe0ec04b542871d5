//! `logstore::cri::parse_cri_line` on any bytes: no panic, and an accepted record's text is the
//! end of the line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if let Ok(rec) = logstore::cri::parse_cri_line(line) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(line.ends_with(rec.text));
    }
});
