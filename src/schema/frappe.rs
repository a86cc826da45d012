//! Frappe compatibility of schema documents: the keys Frappe's DocType and DocField files
//! carry across versions (and the rule that tells a typo of one from a key of its own),
//! `DocType` as the name of the doctype of schemas, standard fields a child table declares
//! itself, Frappe's own Role and User files extending the seeded schemas, reading an app
//! folder and exporting a schema as a Frappe file. It reads and shapes JSON; it never
//! touches the store.

use super::{Kind, SCHEMA, STANDARD_FIELDS, edit_distance, kind_of};
use crate::doc::Doc;
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Frappe's name for the doctype of schemas: a Link with options `DocType` names a schema,
/// and a request may say `DocType` where it means `Schema`.
pub(crate) const FRAPPE_DOCTYPE: &str = "DocType";

/// `Schema` for Frappe's `DocType`, any other doctype as it is.
pub(crate) fn canonical_doctype(doctype: &str) -> &str {
    if doctype == FRAPPE_DOCTYPE {
        SCHEMA
    } else {
        doctype
    }
}

/// Keys of a DocField row in Frappe files of any version (v4 to v15) beyond the ones the
/// seeded `DocField` schema defines (which are known too): kept, never refused.
const DOCFIELD_KEYS: [&str; 20] = [
    "doctype",
    "name",
    "owner",
    "creation",
    "modified",
    "modified_by",
    "docstatus",
    "idx",
    "parent",
    "parentfield",
    "parenttype",
    "trigger",
    "match",
    "no_column",
    "ignore_restrictions",
    "show_preview_popup",
    "button_color",
    "not_nullable",
    "allow_in_quick_entry",
    "hide_toolbar",
];

/// Keys of a DocType file in Frappe files of any version beyond the ones the seeded
/// `Schema` schema defines: kept, never refused.
const DOCTYPE_KEYS: [&str; 79] = [
    "doctype",
    "name",
    "owner",
    "creation",
    "modified",
    "modified_by",
    "docstatus",
    "idx",
    "actions",
    "links",
    "states",
    "engine",
    "custom",
    "beta",
    "color",
    "icon",
    "image_field",
    "image_view",
    "timeline_field",
    "document_type",
    "default_print_format",
    "default_view",
    "default_email_template",
    "force_re_route_to_default_view",
    "allow_copy",
    "allow_events_in_timeline",
    "allow_guest_to_view",
    "allow_import",
    "allow_rename",
    "allow_auto_repeat",
    "editable_grid",
    "email_append_to",
    "sender_field",
    "sender_name_field",
    "subject_field",
    "recipient_account_field",
    "has_web_view",
    "hide_heading",
    "hide_toolbar",
    "in_create",
    "in_dialog",
    "is_tree",
    "is_virtual",
    "is_published_field",
    "is_calendar_and_gantt",
    "nsm_parent_field",
    "index_web_pages_for_search",
    "make_attachments_public",
    "max_attachments",
    "menu_index",
    "name_case",
    "protect_attached_files",
    "queue_in_background",
    "quick_entry",
    "read_only",
    "read_only_onload",
    "restrict_to_domain",
    "route",
    "row_format",
    "show_name_in_global_search",
    "show_preview_popup",
    "show_title_field_in_link",
    "smallicon",
    "track_changes",
    "track_seen",
    "track_views",
    "translated_doctype",
    "website_search_field",
    "documentation",
    "grid_page_length",
    "rows_threshold_for_grid_search",
    "allow_unknown_fields",
    "server_code",
    "client_script",
    "_comments",
    "_assign",
    "_user_tags",
    "_liked_by",
    "_last_update",
];

/// Words people write for a known key (not typos, so edit distance misses them).
const SYNONYMS: [(&str, &str); 9] = [
    ("required", "reqd"),
    ("mandatory", "reqd"),
    ("is_required", "reqd"),
    ("type", "fieldtype"),
    ("field_type", "fieldtype"),
    ("field_name", "fieldname"),
    ("readonly", "read_only"),
    ("is_table", "istable"),
    ("is_single", "issingle"),
];

/// Which keys a row or document of Frappe's may carry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeySet {
    /// A DocField row.
    DocField,
    /// A DocType document.
    DocType,
}

/// The key `key` is a near-miss of, if it is one: the known key it was meant to be.
///
/// The rule (README, Schemas): a key that is known (`defined`, the seeded schema's fields,
/// Frappe's keys of any version, or a standard field) is never a near-miss. Any other key is a near-miss of a
/// known key when it is a synonym of it (`required` → `reqd`), when the two are equal
/// ignoring case, whitespace, `_` and `-` (`Reqd`, `reqd `, `read-only`), or when it is within
/// edit distance 2 of it (1 for known keys of at most 4 characters: `reqd` is too short to
/// absorb 2 edits). Every other unknown key is Frappe's or the user's own: kept as it is.
pub(crate) fn near_miss<'a>(key: &str, set: KeySet, defined: &[&'a str]) -> Option<&'a str>
where
    'static: 'a,
{
    let extra: &[&'static str] = match set {
        KeySet::DocField => &DOCFIELD_KEYS,
        KeySet::DocType => &DOCTYPE_KEYS,
    };
    // The standard and meta fields every document carries (`modifiedBy`, `idx`, ...).
    let known = || {
        defined
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .chain(STANDARD_FIELDS.iter().copied())
    };
    if key.len() > 64 || known().any(|k| k == key) {
        return None;
    }
    let lower = key.to_lowercase();
    if let Some((_, target)) = SYNONYMS.iter().find(|(s, _)| *s == lower.trim())
        && let Some(found) = known().find(|k| k == target)
    {
        return Some(found);
    }
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let squashed = squash(key);
    if let Some(found) = known().find(|k| squash(k) == squashed) {
        return Some(found);
    }
    known()
        .map(|k| (edit_distance(&lower, k), k))
        .filter(|(d, k)| *d <= if k.len() <= 4 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Whether a child table's own declaration of the standard field `fieldname` agrees with
/// it (`None`: not a standard field). Has Role declares `parent` as Data and `idx` as Int.
pub(crate) fn agrees_with_standard(fieldname: &str, fieldtype: &str) -> Option<bool> {
    if !STANDARD_FIELDS.contains(&fieldname) {
        return None;
    }
    let kind = kind_of(fieldtype);
    Some(match fieldname {
        "idx" | "docstatus" => kind == Some(Kind::Int),
        "creation" | "modified" => matches!(kind, Some(Kind::Datetime | Kind::Text(_))),
        _ => matches!(kind, Some(Kind::Text(_) | Kind::Link)),
    })
}

/// The seeded schemas a Frappe file of the same name extends (Frappe's own `Role` and
/// `User`); the others cannot be changed at all.
pub(crate) const EXTENDABLE: [&str; 2] = ["User", "Role"];

/// The fields of an extendable seed that access control relies on (`enabled` and `roles`
/// of a User; a Role is its name alone): an extension keeps the seed's definition of them.
/// The seed's other fields take the file's declaration.
pub(crate) fn protected_fields(schema: &str) -> &'static [&'static str] {
    match schema {
        "User" => &["enabled", "roles"],
        _ => &[],
    }
}

/// The keys of a seeded schema an extension never changes.
const SEED_KEYS: [&str; 5] = [
    "name",
    "doctype",
    "istable",
    "issingle",
    "allow_unknown_fields",
];

/// `file` (a DocType file named like the extendable `seed`) as it extends the seed: every key
/// and field of the file kept as imported, the seed's fields it does not declare appended,
/// the seed's identity keys (`SEED_KEYS`) kept. The [`protected_fields`] keep the seed's
/// meaning whatever the file declares (see [`Schema::from_doc`](super::Schema::from_doc)).
pub(crate) fn extend_seed(seed: &Doc, file: &Doc) -> Doc {
    let mut merged = file.clone();
    for key in SEED_KEYS {
        match seed.get(key) {
            Some(value) => merged.insert(key.into(), value.clone()),
            None => merged.remove(key),
        };
    }
    let mut rows = file
        .get("fields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let declared = |rows: &[Value], name: &str| {
        rows.iter()
            .any(|r| r.get("fieldname").and_then(Value::as_str) == Some(name))
    };
    for row in seed
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = row.get("fieldname").and_then(Value::as_str).unwrap_or("");
        if !declared(&rows, name) {
            rows.push(row.clone());
        }
    }
    merged.insert("fields".into(), Value::Array(rows));
    merged
}

/// Whether a stored seeded schema carries an extension (fields the seed does not define).
pub(crate) fn is_extension(seed: &Doc, stored: &Doc) -> bool {
    let names = |doc: &Doc| -> Vec<String> {
        doc.get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("fieldname").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    };
    let seeded = names(seed);
    names(stored).iter().any(|n| !seeded.contains(n))
}

/// Whether the seed's field `seed_type` accepts a file's declaration as `declared`: the same
/// kind of value, or rows where the seed keeps a JSON list (`roles`: Frappe's Table of Has
/// Role rows, whose `role` access control reads).
pub(crate) fn agrees_with_seed(seed_type: &str, declared: &str) -> bool {
    let (seed, file) = (kind_of(seed_type), kind_of(declared));
    match (seed, file) {
        (Some(Kind::Json), Some(Kind::Table)) => true,
        (Some(Kind::Text(_)), Some(Kind::Text(_) | Kind::Link | Kind::Select)) => true,
        _ => seed == file,
    }
}

/// Keys the engine adds to a stored schema that a Frappe file never carries.
const ENGINE_KEYS: [&str; 4] = [
    "modifiedBy",
    "createdByRun",
    "modifiedByRun",
    "createdByTemplate",
];

/// Keys the engine adds to every child row (Frappe strips them from its exports too).
const ROW_KEYS: [&str; 6] = [
    "name",
    "doctype",
    "idx",
    "parent",
    "parentfield",
    "parenttype",
];

/// A stored schema as a Frappe DocType file: `doctype: DocType`, without the engine's run
/// stamps or the bookkeeping of child rows. Importing it gives the same schema again.
pub(crate) fn export(stored: &Doc) -> Value {
    let mut doc = stored.clone();
    for key in ENGINE_KEYS {
        doc.remove(key);
    }
    doc.insert("doctype".into(), Value::String(FRAPPE_DOCTYPE.into()));
    for table in ["fields", "permissions"] {
        if let Some(Value::Array(rows)) = doc.get_mut(table) {
            for row in rows.iter_mut().filter_map(Value::as_object_mut) {
                for key in ROW_KEYS {
                    row.remove(key);
                }
            }
        }
    }
    Value::Object(doc)
}

/// The DocType files of a Frappe app or module folder: every `**/doctype/*/*.json` whose
/// content is a `DocType` document, in path order. JSON that is not a DocType (test
/// records, reports, fixtures) is skipped; a file that cannot be read or parsed, or a
/// folder without any DocType file, is an error naming it (BAD_REQUEST).
pub(crate) fn read_app_dir(dir: &Path) -> Result<Vec<Value>> {
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    paths.retain(|path| {
        let parent = path.parent();
        let grandparent = parent.and_then(Path::parent);
        path.extension().is_some_and(|e| e == "json")
            && grandparent
                .and_then(Path::file_name)
                .is_some_and(|n| n == "doctype")
    });
    paths.sort();
    let mut docs = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", path.display())))?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| Error::bad_request(format!("{} is not JSON: {e}", path.display())))?;
        if doc.get("doctype").and_then(Value::as_str) == Some(FRAPPE_DOCTYPE) {
            docs.push(doc);
        }
    }
    if docs.is_empty() {
        // Most likely the wrong folder: say so rather than import nothing successfully.
        return Err(Error::bad_request(format!(
            "{} holds no DocType file (looked for doctype/<name>/<name>.json below it)",
            dir.display()
        )));
    }
    Ok(docs)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::bad_request(format!("cannot read {}: {e}", dir.display())))?;
        let path = entry.path();
        // Symbolic links are not followed: a link back up the tree would never end.
        let kind = entry
            .file_type()
            .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", path.display())))?;
        if kind.is_dir() {
            walk(&path, found)?;
        } else if kind.is_file() {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_typos_and_synonyms_of_known_keys_only() {
        let defined = [
            "fieldname",
            "fieldtype",
            "reqd",
            "options",
            "depends_on",
            "label",
        ];
        let miss = |key| near_miss(key, KeySet::DocField, &defined);
        assert_eq!(miss("required"), Some("reqd"));
        assert_eq!(miss("reqd "), Some("reqd"));
        assert_eq!(miss("Reqd"), Some("reqd"));
        assert_eq!(miss("optons"), Some("options"));
        assert_eq!(miss("lable"), Some("label"));
        assert_eq!(miss("field-type"), Some("fieldtype"));
        // Known keys, and unknown keys far from every known one, are kept.
        assert_eq!(miss("reqd"), None);
        assert_eq!(miss("trigger"), None);
        assert_eq!(miss("display_if"), None);
        assert_eq!(miss("my_hint"), None);
        // Short known keys absorb one edit only.
        assert_eq!(miss("rq"), None);
    }

    #[test]
    fn standard_field_declarations_agree_by_kind() {
        assert_eq!(agrees_with_standard("parent", "Data"), Some(true));
        assert_eq!(agrees_with_standard("idx", "Int"), Some(true));
        assert_eq!(agrees_with_standard("idx", "Data"), Some(false));
        assert_eq!(agrees_with_standard("parenttype", "Check"), Some(false));
        assert_eq!(agrees_with_standard("role", "Link"), None);
    }
}
