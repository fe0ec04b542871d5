//! Pieces several pages share: the shell (navigation, tenant picker, user menu),
//! preferences, time-ago labels, status badges, error banners.

pub mod ansi;
pub mod badges;
pub mod banner;
pub mod changes;
pub mod chart;
pub mod live;
pub mod log_view;
pub mod pod_table;
pub mod prefs;
pub mod shell;
pub mod terminal_session;
pub mod ticker;
pub mod upload;
pub mod xterm;
