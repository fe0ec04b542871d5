//! The per-app APM switch (issue 19): a team turns application performance monitoring on or
//! off for a Deployment without rebuilding its image. This module is the pure core — edits of
//! a `PodTemplateSpec`, no cluster access; the caller reads the Deployment, calls these and
//! patches the template back (a changed template rolls the pods).
//!
//! **On** ([`template::attach`]) adds three things and changes a few variables:
//! * an `emptyDir` volume `wharf-apm`;
//! * an init container `wharf-apm-agent` running the agent's image (the admin's choice, or
//!   the kind's default) that copies the agent into the volume (`cp`, no shell, no privilege,
//!   small requests and limits);
//! * in every app container (never init or ephemeral ones) the volume at `/wharf-apm`, and
//!   `JAVA_TOOL_OPTIONS` with `-javaagent:/wharf-apm/…` *appended* to what the container had
//!   (the JVM reads that variable itself, so no command line is touched), plus the kind's
//!   own variables: the service name, the collector, the tenant and namespace.
//!
//! **Off** ([`template::detach`]) must give back the template exactly as it was, so `attach`
//! writes down, in the annotation `wharf.dev/apm` on the template, everything it did: the
//! agent and settings, the names it added, which optional lists it created (`None` and an
//! empty list are different templates), and for each container and variable the variable as
//! it was and as attach left it. Detach restores a variable only when it is still as attach
//! left it; one edited by hand since keeps the edit, minus Wharf's appended options if they
//! are still in it. A container added by hand since is left alone. Without the annotation
//! there is nothing Wharf knows it did, so the template comes back unchanged. A property test
//! checks `detach(attach(t)) == t` over generated templates.
//!
//! The annotation lives on the *pod template* (not the Deployment) so the pods carry it too,
//! and a template copied elsewhere carries its own undo. Its presence is the switch's state
//! ([`template::attached`]). Attaching with the same settings returns the template unchanged
//! (the switch is idempotent); with other settings it detaches first.
//!
//! **Refusals**: everything that would make the result unsafe or not undoable is an
//! [`template::ApmError`] (bilingual through `AppError`): a variable to append to that comes
//! from `valueFrom`, a variable defined twice, a name Wharf needs that the app already uses,
//! a template without containers, the OpenTelemetry Operator already injecting, and every
//! hostile input — the image must parse as an image reference, the collector as what its
//! agent expects, app/tenant/namespace as Kubernetes names (they end up inside
//! `JAVA_TOOL_OPTIONS`, where a space would start a new JVM option and `$(…)` would expand
//! another variable).
//!
//! **Operator mode** ([`template::annotate_for_operator`]): where the OpenTelemetry Operator
//! runs, the switch sets `instrumentation.opentelemetry.io/inject-java` instead and lets the
//! operator's webhook inject its agent; the previous value is recorded and put back.
//!
//! **Limitations**: Java only (all three agents are Java agents; [`template::java_likely`]
//! guesses which containers are Java, the user decides). A `JAVA_TOOL_OPTIONS` set through
//! `envFrom` is not seen (a pure function cannot read the ConfigMap) and is overridden by the
//! explicit one while APM is on. A JVM started with its own `-javaagent` gets a second agent.
//! Containers added by hand while APM is on get the agent only at the next off/on or change
//! of settings.

pub mod template;

pub use template::{
    annotate_for_operator, attach, attached, detach, java_likely, unannotate_for_operator,
    AgentKind, AgentSettings, ApmError, Target,
};
