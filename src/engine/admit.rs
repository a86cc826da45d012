//! Admission: what a request must be before any of its work starts — no deeper than the
//! depth limit of values, no larger than the size limits of the `System Settings` document
//! `limits`. A refused request is recorded with a cut echo of its input, never the input
//! itself: a refusal must not cost the store what the request would have.

use super::Core;
use crate::error::Result;
use crate::handler::Tx;
use crate::run::{Run, RunRequest};
use crate::value::{self, SizeLimits};
use serde_json::Value;

impl Core {
    /// The size limits as the store holds them now (before a request is even parsed).
    pub(super) fn size_limits_now(&self) -> Result<SizeLimits> {
        self.catalog.size_limits(&self.snapshot()?)
    }

    /// Refuse a request whose input or text fields pass a size or depth limit.
    pub(super) fn admit(&self, tx: &Tx<'_>, request: &RunRequest) -> Result<()> {
        let limits = self.catalog.size_limits(tx)?;
        let texts = [
            ("operation", request.operation.as_deref()),
            ("from", request.from.as_deref()),
            ("into", request.into.as_deref()),
            ("in", request.in_.as_deref()),
            ("template", request.template.as_deref()),
            ("doctype", request.doctype.as_deref()),
            ("owner", request.owner.as_deref()),
            ("agent", request.agent.as_deref()),
            ("flowType", request.flow_type.as_deref()),
            ("flowId", request.flow_id.as_deref()),
            ("stepId", request.step_id.as_deref()),
        ];
        limits.check_request(&request.input, texts)
    }
}

/// What the record of a refused run keeps of its request: a cut echo of the input, and
/// text fields cut to what a message would show. The input is dropped without recursion.
pub(super) fn keep_refused(run: &mut Run, input: Value) {
    run.input = match &input {
        Value::Null => Value::Null,
        other => Value::String(value::echo(other)),
    };
    value::drop_deep(input);
    for text in [
        &mut run.operation,
        &mut run.doctype,
        &mut run.from,
        &mut run.into,
        &mut run.template,
        &mut run.owner,
        &mut run.agent,
        &mut run.flow_type,
        &mut run.flow_id,
        &mut run.step_id,
    ] {
        if let Some(long) = text.as_deref().filter(|t| t.len() > value::ECHO_CHARS * 4) {
            *text = Some(value::echo_str(long));
        }
    }
}
