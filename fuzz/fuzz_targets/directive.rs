//! `ngx::directive::check` and `check_host` on any text: no panic, and an accepted directive
//! holds nothing that could end it or open or close a block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx::directive;

fuzz_target!(|input: &str| {
    if let Ok(out) = directive::check(input) {
        assert!(
            !out.contains([';', '{', '}', '#', '\\', '`', '\n', '\r']),
            "{input:?} -> {out:?}"
        );
        assert_eq!(directive::check(&out).ok().as_deref(), Some(out.as_str()));
        let name = out.split(' ').next().unwrap_or_default();
        assert!(directive::ALLOWED.contains(&name), "{input:?} -> {out:?}");
    }
    if directive::check_host(input).is_ok() {
        assert!(
            input.len() <= 253
                && input
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*')),
            "{input:?}"
        );
    }
});
