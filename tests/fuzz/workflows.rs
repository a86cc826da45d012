//! Generated workflows: steps rendered against what is in scope (earlier ids, `item`,
//! `error`), with `if`, `retry`, `timeoutMs`, `map`, `parallel` and `onError`, inline or saved
//! as templates.

use super::values::*;
use super::*;

/// One generated step, rendered against what is in scope (earlier ids, map item, error).
#[derive(Debug, Clone)]
pub(super) struct StepSpec {
    /// 0: a plain step, 1: a `map`, 2: a `parallel` group.
    kind: u8,
    operation: &'static str,
    target: (&'static str, &'static str),
    /// Which input shape, and the references it holds.
    input: u8,
    refs: [u16; 3],
    /// A hostile id instead of a fresh one (reserved, duplicate, empty, not a string).
    bad_id: Option<Value>,
    controls: Vec<Control>,
    nested: Vec<StepSpec>,
    on_error: Option<Box<StepSpec>>,
}

#[derive(Debug, Clone)]
pub(super) enum Control {
    If(u16),
    Retry(Value),
    Timeout(Value),
}

/// What a step may refer to.
#[derive(Clone, Default)]
pub(super) struct Scope {
    ids: Vec<String>,
    in_map: bool,
    in_error: bool,
    template: bool,
    next: usize,
}

impl Scope {
    /// The `choice`-th reference valid here; one in twelve is one of [`REFS`] (maybe invalid).
    fn reference(&self, choice: u16) -> String {
        if choice % 20 == 19 {
            return REFS[choice as usize / 20 % REFS.len()].to_string();
        }
        let mut refs: Vec<String> = [
            "{{input.x}}",
            "{{input.items}}",
            "{{input}}",
            "t {{input.x}}/{{input.x}}",
        ]
        .map(String::from)
        .to_vec();
        if self.template {
            refs.push("{{variables.v}}".into());
        }
        if let Some(last) = self.ids.last() {
            refs.push("{{prev.output}}".into());
            refs.push(format!("{{{{{last}.output.data.length}}}}"));
        }
        for id in &self.ids {
            for path in [
                "output",
                "output.data.length",
                "output.data[0].name",
                "name",
                "output.data",
            ] {
                refs.push(format!("{{{{{id}.{path}}}}}"));
            }
        }
        if self.in_map {
            refs.extend(
                ["{{item}}", "{{item.name}}", "{{index}}", "x{{index}}y"].map(String::from),
            );
        }
        if self.in_error {
            refs.extend(["{{error.code}}", "{{error.message}}"].map(String::from));
        }
        refs[choice as usize % refs.len()].clone()
    }

    fn condition(&self, choice: u16) -> String {
        let r = self.reference(choice / 8);
        // A condition binds whole references; an interpolated string would be code.
        let r = if r.starts_with("{{") && r.ends_with("}}") && r.matches("{{").count() == 1 {
            r
        } else {
            "{{input.x}}".to_string()
        };
        match choice % 8 {
            0 => format!("{r} > 0"),
            1 => format!("{r} == \"Open\""),
            2 => format!("{r} != ()"),
            3 => "true".into(),
            4 => "false".into(),
            5 => format!("{r}.len() > 1"),
            6 => format!("{r} == {r}"),
            _ if !choice.is_multiple_of(3) => "true".into(),
            _ => CONDITIONS[choice as usize / 8 % CONDITIONS.len()].to_string(),
        }
    }
}

pub(super) const REFS: &[&str] = &[
    "{{input.x}}",
    "{{variables.v}}",
    "{{variables}}",
    "{{prev.output}}",
    "{{a.output}}",
    "{{item}}",
    "{{index}}",
    "{{error.code}}",
    "{{nope.x}}",
    "{{",
    "}}",
    "{{ }}",
    "{{}}",
    "{{input.items[99999999999999999999]}}",
    "{{input.items[-1]}}",
    "{{input.items[}}",
    "{{input.x}}{{input.x}}{{input.x}}{{input.x}}",
    "{{{{input.x}}}}",
    "{{input.__proto__}}",
    "{{input.items.length.length}}",
    "{{ input.x }}",
    "{{input..x}}",
    "{{input.x.y.z}}",
];

pub(super) const CONDITIONS: &[&str] = &[
    "true",
    "false",
    "1 +",
    "\"x\"",
    "{{nope}}",
    "loop {}",
    "let x = 1; x",
    "run(#{})",
    "",
    "1",
    "()",
    "[1][5]",
    "1 / 0",
    "\"a\" + 1 > 0",
];

pub(super) fn step_spec() -> BoxedStrategy<StepSpec> {
    let operation = prop_oneof![
        12 => prop::sample::select(&["select", "create", "update", "delete", "fz_echo", "fz_note", "read"][..]),
        1 => prop::sample::select(&["workflow", "fz_fail", "nope"][..]),
    ];
    let target = prop_oneof![
        6 => prop::sample::select(&["ToDo", "Note", "Fz Item"][..]).prop_map(|d| ("doctype", d)),
        1 => (prop::sample::select(&["from", "into", "in", "template"][..]),
              prop::sample::select(&["ToDo", "Note", "Fz T0", "Operation", "{{input.x}}", "Run", "Audit Trail"][..])),
    ];
    let bad_id = prop::option::weighted(
        0.08,
        prop_oneof![
            prop::sample::select(
                &[
                    "prev",
                    "input",
                    "item",
                    "error",
                    "variables",
                    "",
                    "a b",
                    "s0"
                ][..]
            )
            .prop_map(Value::from),
            scalar(),
        ],
    );
    let control = prop_oneof![
        2 => any::<u16>().prop_map(Control::If),
        1 => prop_oneof![
            12 => (0u64..=3, 0u64..=20).prop_map(|(max, backoff)| json!({"max": max, "backoffMs": backoff})),
            1 => scalar(),
            1 => (scalar(), scalar()).prop_map(|(max, backoff)| json!({"max": max, "backoffMs": backoff})),
        ].prop_map(Control::Retry),
        1 => prop_oneof![4 => (0u64..300).prop_map(Value::from), 1 => scalar()].prop_map(Control::Timeout),
    ];
    let leaf = (
        prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        operation,
        target,
        prop_oneof![6 => Just(0u8), 1 => 1u8..8],
        any::<[u16; 3]>(),
        bad_id,
        prop::collection::vec(control, 0..3),
    )
        .prop_map(
            |(kind, operation, target, input, refs, bad_id, controls)| StepSpec {
                kind,
                operation,
                target,
                input,
                refs,
                bad_id,
                controls,
                nested: Vec::new(),
                on_error: None,
            },
        );
    leaf.prop_recursive(2, 10, 3, |inner| {
        (
            inner.clone(),
            prop::collection::vec(inner.clone(), 0..3),
            prop::option::weighted(0.4, inner),
        )
            .prop_map(|(mut spec, nested, on_error)| {
                spec.nested = nested;
                spec.on_error = on_error.map(Box::new);
                spec
            })
    })
    .boxed()
}

/// The step as JSON; adds its id to `scope` once rendered.
pub(super) fn render_step(spec: &StepSpec, scope: &mut Scope) -> Value {
    let id = spec.bad_id.clone().unwrap_or_else(|| {
        scope.next += 1;
        Value::from(format!("s{}", scope.next))
    });
    let [r0, r1, r2] = spec.refs.map(|r| Value::from(scope.reference(r)));
    let shape = match (spec.input, spec.operation) {
        (0, "select" | "read") => 1,
        (0, "update") => 3,
        (0, "delete") => 1,
        (0, "fz_echo" | "fz_note") => 5,
        (0, _) if spec.target.1 == "Fz Item" => 7,
        (shape, _) => shape,
    };
    let input = match shape {
        0 => json!({"data": {"description": r0, "status": r1, "n": r2}}),
        1 => json!({"where": {"name": r0}}),
        2 => json!({"where": {"status": r0}, "data": {"n": r1}}),
        3 => json!({"name": r0, "data": {"description": r1}}),
        4 => json!({"data": {"t": r0}}),
        5 => r0,
        6 => Value::Null,
        _ => json!({"data": [{"title": r0, "qty": r1, "code": r2}]}),
    };
    let mut step = match spec.kind {
        2 => {
            let mut branches = Vec::new();
            let mut ids = Vec::new();
            for nested in &spec.nested {
                // A branch is a plain step; branches do not see each other.
                let plain = StepSpec {
                    kind: 0,
                    ..nested.clone()
                };
                let mut branch_scope = scope.clone();
                let branch = render_step(&plain, &mut branch_scope);
                scope.next = branch_scope.next;
                if let Some(id) = branch.get("id").and_then(Value::as_str) {
                    ids.push(id.to_string());
                }
                branches.push(branch);
            }
            scope.ids.extend(ids.iter().cloned());
            return json!({"parallel": ids, "operations": branches});
        }
        1 => {
            let mut inner = Scope {
                in_map: true,
                ..scope.clone()
            };
            let steps: Vec<Value> = spec
                .nested
                .iter()
                .map(|n| render_step(n, &mut inner))
                .collect();
            scope.next = inner.next;
            let over = match spec.input % 3 {
                0 => Value::from("{{input.items}}"),
                1 => Value::from(scope.reference(spec.refs[0])),
                _ => json!([1, "two", {"name": "t1"}]),
            };
            json!({"id": id, "map": over, "steps": steps})
        }
        _ if spec.operation == "workflow" && spec.input.is_multiple_of(2) => {
            // A saved template (maybe this one, through another: cycles end at the nesting
            // limit), or inline steps.
            let template = format!("Fz T{}", spec.refs[2] % 4);
            json!({"id": id, "operation": "workflow", "template": template, "input": input})
        }
        _ if spec.operation == "workflow" => {
            let inner = json!([{"id": "w", "operation": "create", "into": "Note",
                                "input": {"data": {"t": input}}},
                               {"id": "f", "operation": "fz_fail"}]);
            json!({"id": id, "operation": "workflow", "input": {"children": inner}})
        }
        _ => {
            let (key, doctype) = spec.target;
            json!({"id": id, "operation": spec.operation, key: doctype, "input": input})
        }
    };
    for control in &spec.controls {
        match control {
            Control::If(c) => step["if"] = Value::from(scope.condition(*c)),
            Control::Retry(r) => step["retry"] = r.clone(),
            Control::Timeout(t) => step["timeoutMs"] = t.clone(),
        }
    }
    if let Some(on_error) = &spec.on_error {
        // A fallback is one plain request: no id, no map, no group.
        let mut inner = Scope {
            in_error: true,
            ..scope.clone()
        };
        let plain = StepSpec {
            kind: 0,
            bad_id: None,
            controls: Vec::new(),
            ..(**on_error).clone()
        };
        let mut fallback = render_step(&plain, &mut inner);
        scope.next = inner.next;
        if let Value::Object(map) = &mut fallback {
            map.remove("id");
        }
        step["onError"] = fallback;
    }
    if let Some(id) = id.as_str() {
        scope.ids.push(id.to_string());
    }
    step
}

#[derive(Debug, Clone)]
pub(super) struct WorkflowCase {
    steps: Vec<StepSpec>,
    input: Value,
    /// Saved as a template (with these variables) and run by name, rather than inline.
    template: Option<Value>,
    /// A last change to the rendered request (hostile shapes the generator would not make).
    mutation: Option<Mutation>,
}

impl WorkflowCase {
    /// The steps run inline (`input.children`).
    pub(super) fn inline_request(&self) -> Value {
        let mut input = self.input.clone();
        input["children"] = self.children();
        json!({"operation": "workflow", "input": input})
    }

    fn children(&self) -> Value {
        let mut scope = Scope {
            template: self.template.is_some(),
            ..Scope::default()
        };
        let mut children = Value::from(
            self.steps
                .iter()
                .map(|s| render_step(s, &mut scope))
                .collect::<Vec<_>>(),
        );
        if let Some(m) = &self.mutation {
            apply_within_depth(&mut children, m);
        }
        tame_retries(&mut children);
        children
    }
}

pub(super) fn workflow_case() -> BoxedStrategy<WorkflowCase> {
    let input = (scalar(), prop::collection::vec(scalar(), 0..4))
        .prop_map(|(x, items)| json!({"x": x, "items": items}));
    let template = prop::option::weighted(
        0.3,
        prop_oneof![3 => Just(json!({"v": "Open"})), 1 => Just(Value::Null), 1 => hostile_value()],
    );
    (
        prop::collection::vec(step_spec(), 1..=5),
        input,
        template,
        prop::option::weighted(0.15, mutation()),
    )
        .prop_map(|(steps, input, template, mutation)| WorkflowCase {
            steps,
            input,
            template,
            mutation,
        })
        .boxed()
}

pub(super) fn workflow_test(shared: &Shared, case: WorkflowCase) -> TestCaseResult {
    let engine = shared.get();
    let request = match &case.template {
        None => case.inline_request(),
        Some(variables) => {
            let name = format!(
                "Fz T{}",
                engine
                    .run_value(json!({"operation": "select", "from": "Workflow Template"}))
                    .data()
                    .len()
            );
            let save = json!({"operation": "create", "into": "Workflow Template",
                              "input": {"data": {"name": name, "variables": variables, "children": case.children()}}});
            let saved = check(&engine, &save)?;
            if !saved.success {
                return Ok(());
            }
            json!({"operation": "workflow", "template": name, "input": case.input})
        }
    };
    check(&engine, &request)?;
    Ok(())
}
