//! The one way from the pipeline into a handler: [`validate`] what the pipeline checks for
//! non-built-ins up front, then [`dispatch`] to the built-in, the host's native handler or
//! the operation's script. The script's host calls (nested runs, schemas), its own deadline
//! and the attribution of a TIMEOUT to whoever set the deadline live here.

use super::{Handler, Operation, execute_builtin, validate_input_data};
use crate::error::{ErrorCode, Result};
use crate::handler::OpContext;
use crate::handler::budget::Deadline;
use crate::script::{self, HostCall, Sandbox};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

/// What sets a handler's own deadline (its operation's `limits.timeoutMs`).
const HANDLER_TIMEOUT: &str = "limits.timeoutMs";

/// Validate before dispatch: built-ins validate each document as they build it (a dry run
/// stops before writing); other handlers get `input.data` checked up front, and a dry run
/// of them stops here with the output it returns (`Some`).
pub(crate) fn validate(ctx: &OpContext<'_, '_>, doctype: Option<&str>) -> Result<Option<Value>> {
    let op = ctx.operation();
    if matches!(op.handler, Handler::Builtin(_)) {
        return Ok(None);
    }
    if let (true, Some(doctype)) = (op.validate_schema, doctype) {
        validate_input_data(ctx, doctype)?;
    }
    Ok(ctx.dry_run().then(|| json!({"dryRun": true})))
}

/// Execute the run's handler, whichever kind it is. Returns the run's output.
pub(crate) fn dispatch(ctx: &mut OpContext<'_, '_>, doctype: Option<&str>) -> Result<Value> {
    let op = Arc::clone(&ctx.op);
    match &op.handler {
        Handler::Builtin(builtin) => execute_builtin(*builtin, ctx, doctype),
        Handler::Native(handler) => handler(ctx),
        Handler::Script(compiled) => run_script(ctx, &op, compiled),
    }
}

/// Run an operation's script in the sandbox, serving its host calls from `ctx`.
fn run_script(
    ctx: &mut OpContext<'_, '_>,
    op: &Operation,
    compiled: &script::Compiled,
) -> Result<Value> {
    let mut context = ctx.current().to_value();
    context["input"] = ctx.request().input.clone();
    context["attempt"] = json!(ctx.attempt);
    let sandbox = Sandbox::shared(op.limits);
    // The handler's own time, unless the run's deadline comes first; nested
    // runs get what is left of it, no more.
    let own = Deadline::after(
        Instant::now(),
        op.limits.timeout_ms,
        &ctx.run.id,
        HANDLER_TIMEOUT,
    );
    let deadline = ctx.deadline.clone().tighter(Some(own));
    ctx.deadline = deadline.clone();
    let outcome =
        sandbox.run_handler(
            &op.name,
            compiled,
            context,
            deadline.at(),
            &mut |call| match call {
                HostCall::Run(request) => ctx.run_value(request).into_value(),
                HostCall::GetSchema(name) => ctx
                    .schema(&name)
                    .ok()
                    .flatten()
                    .map_or(Value::Null, |s| Value::Object(s.doc.clone())),
            },
        );
    // The sandbox's clock names the handler's own limit: a deadline set above
    // it says whose it was.
    match outcome {
        Err(e)
            if e.code() == ErrorCode::Timeout
                && !deadline.is_own(&ctx.run.id, HANDLER_TIMEOUT)
                && e.to_run_error().details["nested"] != json!(true) =>
        {
            Err(deadline.error(
                &format!("`{}` was still running when", op.name),
                json!({"operation": op.name}),
            ))
        }
        other => other,
    }
}
