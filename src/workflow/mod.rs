//! Workflows: `Workflow Template` documents whose `children` are steps, executed by the
//! built-in `workflow` operation (or inline, from `input.children`).
//!
//! Each step is a request run through the whole pipeline as a nested run of the workflow
//! run, so it is validated, recorded and rolled back like any run. Steps see earlier
//! results only through references (`refs`), never as code; `if` conditions are Rhai
//! expressions with the references bound as typed variables. This module never writes
//! documents itself: its steps do.
//!
//! - `template`: the [`Template`] type (a saved template or inline steps), the shape of a
//!   step (control keys vs request), a template's version and whether it only reads.
//! - `check`: what a template or inline workflow must satisfy when it is saved and before
//!   it runs.
//! - `executor`: the `workflow` operation running the steps: sequence, parallel groups,
//!   map, retries with backoff, `if` conditions, `onError` fallbacks and rollback.
//! - `refs`: `{{reference}}` parsing and resolution against earlier steps' results.

mod check;
mod executor;
pub(crate) mod refs;
mod template;

pub(crate) use check::check_template_doc;
pub(crate) use executor::execute;
pub(crate) use template::{Template, reads_only};

/// The doctype of workflow templates.
pub(crate) const TEMPLATE: &str = "Workflow Template";
pub use crate::limits::MAX_BACKOFF_MS;
pub use crate::limits::MAX_MAP_ITEMS;
pub use crate::limits::MAX_RETRIES;
pub use crate::limits::MAX_TOTAL_BACKOFF_MS;
pub use crate::limits::MAX_WORKFLOW_STEPS;
