//! Logs, the server's part: a line goes from a container through the [`collector`] into the
//! log store (crate `logstore`), and out through a server function (`wharf_api::logs`), the
//! follow [`socket`], a [`download`], or the operators' [`cli`]. Past one machine, an
//! [`agent`] per node reads the kubelet's files and ships them into a shared [`bucket`].

pub mod agent;
pub mod bucket;
pub mod cli;
pub mod collector;
pub mod download;
pub mod shared;
pub mod socket;
