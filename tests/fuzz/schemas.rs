//! Generated Frappe DocType schemas (clean ones and hostile ones), documents of their fields,
//! and schema changes over existing documents.

use super::values::*;
use super::*;

pub(super) const FIELDTYPES: &[&str] = &[
    "Data",
    "Int",
    "Float",
    "Currency",
    "Percent",
    "Check",
    "Select",
    "Link",
    "Dynamic Link",
    "Table",
    "Table MultiSelect",
    "Date",
    "Datetime",
    "Time",
    "JSON",
    "Text",
    "Small Text",
    "Long Text",
    "Text Editor",
    "Code",
    "Password",
    "Attach",
    "Section Break",
    "Column Break",
    "Tab Break",
    "Read Only",
    "Rating",
    "Duration",
    "Color",
    "Geolocation",
    "Autocomplete",
    "int",
    "data",
    "",
    "Nope",
];

pub(super) fn flag() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => prop::sample::select(&[0, 1][..]).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => scalar(),
    ]
    .boxed()
}

pub(super) fn field() -> BoxedStrategy<Value> {
    let fieldname = prop_oneof![
        4 => prop::sample::select(&["title", "qty", "code", "status", "lines", "due", "x", "y"][..]).prop_map(Value::from),
        1 => prop::sample::select(&["name", "owner", "creation", "doctype", "idx", "parent", "__x", "a b", "1x", "ünï"][..]).prop_map(Value::from),
        1 => scalar(),
    ];
    let options = prop_oneof![
        2 => Just(Value::Null),
        2 => prop::sample::select(&["Open\nClosed", "Fz Item", "Fz Line", "ToDo", "Fz S1", "Schema", "\n\n", "A\nA"][..]).prop_map(Value::from),
        1 => scalar(),
    ];
    let flags = prop::collection::vec(
        (
            prop::sample::select(
                &[
                    "reqd",
                    "unique",
                    "search_index",
                    "set_only_once",
                    "read_only",
                    "in_list_view",
                    "hidden",
                    "required",
                ][..],
            ),
            flag(),
        ),
        0..4,
    );
    (
        fieldname,
        prop_oneof![6 => prop::sample::select(FIELDTYPES).prop_map(Value::from), 1 => scalar()],
        options,
        flags,
        prop::option::weighted(0.2, scalar()),
        prop::option::weighted(0.1, (prop::sample::select(KEYS), scalar())),
    )
        .prop_map(|(fieldname, fieldtype, options, flags, default, extra)| {
            let mut field = json!({"fieldname": fieldname, "fieldtype": fieldtype});
            if !options.is_null() {
                field["options"] = options;
            }
            for (k, v) in flags {
                field[k] = v;
            }
            if let Some(d) = default {
                field["default"] = d;
            }
            if let Some((k, v)) = extra {
                field[k] = v;
            }
            field
        })
        .boxed()
}

pub(super) fn schema_doc() -> BoxedStrategy<Value> {
    let name = prop_oneof![
        6 => prop::sample::select(&["Fz S1", "Fz S2", "Fz S3"][..]).prop_map(Value::from),
        1 => prop::sample::select(&["ToDo", "Schema", "Operation", "Run", "Audit Trail", "User", "DocField", "Fz Line", ""][..]).prop_map(Value::from),
        1 => scalar(),
    ];
    let autoname = prop_oneof![
        3 => Just(None),
        2 => prop::sample::select(&["hash", "autoincrement", "field:code", "field:nope", "naming_series:", "format:FZ-{YYYY}-{####}", "FZ-.#####", "UUID", "Prompt", "format:{", "field:"][..]).prop_map(|s| Some(Value::from(s))),
        1 => scalar().prop_map(Some),
    ];
    let perm = (prop::sample::select(&["Administrator", "Guest", "All", ""][..]), flag(), flag(), flag())
        .prop_map(|(role, read, write, if_owner)| json!({"role": role, "read": read, "write": write, "if_owner": if_owner}));
    (
        name,
        prop::collection::vec(field(), 0..6),
        autoname,
        prop::option::weighted(0.2, flag()),
        prop::option::weighted(0.2, prop::collection::vec(perm, 0..2)),
        prop::option::weighted(0.1, (prop::sample::select(KEYS), hostile_value())),
    )
        .prop_map(|(name, fields, autoname, istable, permissions, extra)| {
            let mut doc = json!({"doctype": "DocType", "name": name, "fields": fields});
            if let Some(a) = autoname {
                doc["autoname"] = a;
            }
            if let Some(t) = istable {
                doc["istable"] = t;
            }
            if let Some(p) = permissions {
                doc["permissions"] = Value::from(p);
            }
            if let Some((k, v)) = extra {
                doc[k] = v;
            }
            doc
        })
        .boxed()
}

#[derive(Debug, Clone)]
pub(super) struct SchemaCase {
    schema: Value,
    imported: bool,
    /// Documents created in the new doctype, then an update of all of them.
    docs: Vec<Value>,
    update: Value,
    /// A second version of the schema saved over the first (a schema change with documents).
    change: Option<Value>,
}

pub(super) fn schema_data() -> BoxedStrategy<Value> {
    prop::collection::vec(
        (
            prop::sample::select(
                &[
                    "title", "qty", "code", "status", "lines", "due", "x", "y", "name",
                ][..],
            ),
            prop_oneof![3 => scalar(), 1 => hostile_value()],
        ),
        0..5,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
    .boxed()
}

/// Fields a clean schema picks from: (fieldname, fieldtype, options).
pub(super) const CLEAN_FIELDS: &[(&str, &str, &str)] = &[
    ("title", "Data", ""),
    ("qty", "Int", ""),
    ("code", "Data", ""),
    ("status", "Select", "Open\nClosed"),
    ("lines", "Table", "Fz Line"),
    ("due", "Date", ""),
    ("x", "Float", ""),
    ("y", "Check", ""),
    ("z", "Link", "Fz Item"),
    ("w", "JSON", ""),
    ("at", "Datetime", ""),
    ("pct", "Percent", ""),
    ("t", "Time", ""),
];

/// A value of the field's type, or (one time in four) anything.
pub(super) fn typed_value(fieldtype: &str, random: Value, pick: u8) -> Value {
    if pick % 4 == 3 {
        return random;
    }
    match fieldtype {
        "Data" => json!(format!("v{pick}")),
        "Int" => json!(pick as i64 - 100),
        "Select" => json!(["Open", "Closed"][pick as usize % 2]),
        "Table" => json!([{"sku": "k", "n": pick}]),
        "Date" => json!("2026-01-31"),
        "Float" | "Percent" => json!(pick as f64 / 3.0),
        "Check" => json!(pick % 2),
        "Link" => json!(["i1", "i2", "nope"][pick as usize % 3]),
        "Datetime" => json!("2026-01-31 10:00:00"),
        "Time" => json!("10:00:00"),
        _ => random,
    }
}

/// A schema Frappe would accept (flags 0/1, options that fit), with documents of its fields.
pub(super) fn clean_schema_case() -> BoxedStrategy<SchemaCase> {
    let field = (
        prop::sample::select(
            &[
                "reqd",
                "unique",
                "search_index",
                "set_only_once",
                "read_only",
                "in_list_view",
            ][..],
        ),
        0u8..2,
    );
    let fields = prop::sample::subsequence(CLEAN_FIELDS, 0..6).prop_flat_map(move |picked| {
        let n = picked.len();
        (
            Just(picked),
            prop::collection::vec(prop::collection::vec(field.clone(), 0..3), n),
        )
    });
    let autoname = prop::sample::select(
        &[
            "",
            "hash",
            "autoincrement",
            "field:code",
            "format:FZ-{YYYY}-{####}",
            "FZ-.#####",
            "UUID",
            "Prompt",
        ][..],
    );
    (
        fields,
        prop::sample::select(&["Fz S1", "Fz S2", "Fz S3"][..]),
        autoname,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|((picked, flags), name, autoname, imported, change)| {
            let mut fields = Vec::new();
            for ((fieldname, fieldtype, options), flags) in picked.iter().zip(flags) {
                let mut f = json!({"fieldname": fieldname, "fieldtype": fieldtype});
                if !options.is_empty() {
                    f["options"] = json!(options);
                }
                for (flag, on) in flags {
                    f[flag] = json!(on);
                }
                fields.push(f);
            }
            let mut schema = json!({"doctype": "DocType", "name": name, "fields": fields});
            if !autoname.is_empty() {
                schema["autoname"] = json!(autoname);
            }
            let doc = {
                let picked = picked.clone();
                prop::collection::vec((0..picked.len().max(1), scalar(), any::<u8>()), 0..5)
                    .prop_map(move |kv| {
                        let mut doc = Map::new();
                        for (i, random, pick) in kv {
                            if let Some((fieldname, fieldtype, _)) = picked.get(i) {
                                doc.insert(
                                    fieldname.to_string(),
                                    typed_value(fieldtype, random, pick),
                                );
                            }
                        }
                        if autoname == "Prompt" {
                            doc.insert("name".into(), json!(format!("p{}", doc.len())));
                        }
                        Value::Object(doc)
                    })
            };
            let changed = {
                let mut fields = fields.clone();
                if let Some(first) = fields.first_mut() {
                    first["unique"] = json!(1);
                }
                fields.push(json!({"fieldname": "added", "fieldtype": "Int", "reqd": 1}));
                Value::from(fields)
            };
            (prop::collection::vec(doc.clone(), 0..4), doc).prop_map(move |(docs, update)| {
                SchemaCase {
                    schema: schema.clone(),
                    imported,
                    docs,
                    update,
                    change: change.then(|| changed.clone()),
                }
            })
        })
        .boxed()
}

pub(super) fn schema_case() -> BoxedStrategy<SchemaCase> {
    prop_oneof![
        2 => clean_schema_case(),
        1 => hostile_schema_case(),
    ]
    .boxed()
}

pub(super) fn hostile_schema_case() -> BoxedStrategy<SchemaCase> {
    (
        schema_doc(),
        any::<bool>(),
        prop::collection::vec(schema_data(), 0..4),
        schema_data(),
        prop::option::weighted(0.3, prop::collection::vec(field(), 0..6)),
    )
        .prop_map(|(schema, imported, docs, update, change)| SchemaCase {
            schema,
            imported,
            docs,
            update,
            change: change.map(Value::from),
        })
        .boxed()
}

pub(super) fn schema_test(shared: &Shared, case: SchemaCase) -> TestCaseResult {
    let engine = shared.get();
    let mut case = case;
    // A fresh name per case on the shared engine (else every case after the first conflicts).
    if case.schema["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("Fz S"))
    {
        let schemas = engine.run_value(json!({"operation": "select", "from": "Schema"}));
        case.schema["name"] = json!(format!("Fz S{}", schemas.data().len()));
    }
    let name = case.schema["name"].clone();
    let saved = if case.imported {
        let run = engine.import_schemas(vec![case.schema.clone()]);
        check_run(&engine, &run, &|| cut(&case.schema))?;
        run
    } else {
        check(
            &engine,
            &json!({"operation": "create", "into": "Schema", "input": {"data": case.schema}}),
        )?
    };
    let Some(doctype) = name.as_str().filter(|_| saved.success) else {
        return Ok(());
    };
    for doc in &case.docs {
        check(
            &engine,
            &json!({"operation": "create", "into": doctype, "input": {"data": doc}}),
        )?;
    }
    check(
        &engine,
        &json!({"operation": "update", "in": doctype,
                           "input": {"where": {}, "data": case.update}}),
    )?;
    if let Some(fields) = &case.change {
        check(
            &engine,
            &json!({"operation": "update", "in": "Schema",
                               "input": {"name": doctype, "data": {"fields": fields}}}),
        )?;
        check(
            &engine,
            &json!({"operation": "update", "in": doctype,
                               "input": {"where": {}, "data": case.update}}),
        )?;
    }
    check(
        &engine,
        &json!({"operation": "select", "from": doctype,
                           "input": {"orderBy": {"qty": "desc"}}}),
    )?;
    Ok(())
}
