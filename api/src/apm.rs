//! Application performance monitoring: the per-app switch that attaches a tracing agent to an
//! app's pods without a rebuild (the server's `wharf_console::apm`).

use serde::{Deserialize, Serialize};

/// The switch of one app, as its page shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApmView {
    /// The console has an agent and a collector configured (`--apm-collector`); without one
    /// the switch is shown off and says why.
    pub configured: bool,
    /// The agent the platform admin chose: "OpenTelemetry", "Pinpoint" or "SkyWalking".
    pub agent: String,
    /// The languages that agent supports (each a Java agent: `["java"]`).
    pub languages: Vec<String>,
    /// The cluster runs the OpenTelemetry Operator (it serves `Instrumentation`): the switch
    /// sets the operator's injection annotation instead of adding the agent itself.
    pub operator: bool,
    /// APM is on for the app now.
    pub on: bool,
    /// The app's first container looks like a Java app (image or command); a guess the user
    /// may overrule when switching on.
    pub java_likely: bool,
    /// The trace UI's page for this app, when the admin configured one (`--apm-trace-url`).
    pub trace_link: Option<String>,
}
