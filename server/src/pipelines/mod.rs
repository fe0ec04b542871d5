//! Pipelines on the server: the controller that runs each `PipelineRun` as a Job and writes
//! back what happened (`controller`, with the Job in `job` and the reading of its pod in
//! `status`), the git push webhook (`webhook`), uploaded artifacts (`artifacts`) and the live
//! socket of the pipeline pages (`socket`). The designer's server functions are in `wharf_api::pipelines`.

pub mod artifacts;
pub mod socket;
pub mod webhook;
