//! The browser entry point: mounts the console. Everything else lives in `app/`.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(wharf_app::App);
}
