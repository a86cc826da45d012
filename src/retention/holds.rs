//! Legal holds: `Legal Hold` documents that exempt matching runs and audit entries from
//! every retention rule while they are not lifted.
//!
//! A hold names one or more targets (`heldDoctype`, `heldName` with `heldDoctype`,
//! `heldOwner`, `heldFlowId`, `heldFlowType`); it matches a run or an audit entry when
//! every target it names matches. The pruner loads the active holds once per pass
//! ([`Holds::load`]) and asks [`Holds::holds_run`] of every run of a tree before pruning it;
//! archiving of audit segments asks [`Holds::holds_entry`]. With no active hold, both answer
//! `false` without reading anything.
//!
//! The save rules of the doctype (who may create or lift, what a hold must name, that it is
//! never deleted nor un-lifted) are in `ops::hold`.

use crate::doc::Doc;
use crate::error::Result;
use crate::store::View;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The doctype of hold documents.
pub(crate) const LEGAL_HOLD: &str = "Legal Hold";

/// One active hold's targets (`None`: not a target of this hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Hold {
    /// The hold document's name.
    pub name: String,
    doctype: Option<String>,
    doc_name: Option<String>,
    owner: Option<String>,
    flow_id: Option<String>,
    flow_type: Option<String>,
}

/// What a hold is matched against: a run's or an audit entry's facts.
#[derive(Debug, Default)]
struct Subject<'a> {
    doctype: Option<&'a str>,
    /// The documents it names (a run: the `name`, `data[].name`, `names` and
    /// `where.name` of its input and output; an entry: its `refName`).
    names: Vec<&'a str>,
    owner: Option<&'a str>,
    flow_id: Option<&'a str>,
    flow_type: Option<&'a str>,
}

impl Hold {
    /// The hold a `Legal Hold` document declares, if it is active (not lifted).
    pub(crate) fn from_doc(doc: &Doc) -> Option<Hold> {
        if is_lifted(doc) {
            return None;
        }
        let text = |key: &str| {
            doc.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Some(Hold {
            name: text("name").unwrap_or_default(),
            doctype: text("heldDoctype"),
            doc_name: text("heldName"),
            owner: text("heldOwner"),
            flow_id: text("heldFlowId"),
            flow_type: text("heldFlowType"),
        })
    }

    /// Whether it names no target at all (such a hold is refused when saved).
    pub(crate) fn is_empty(&self) -> bool {
        self.doctype.is_none()
            && self.doc_name.is_none()
            && self.owner.is_none()
            && self.flow_id.is_none()
            && self.flow_type.is_none()
    }

    fn matches(&self, subject: &Subject<'_>) -> bool {
        let same = |target: &Option<String>, value: Option<&str>| {
            target.as_deref().is_none_or(|t| Some(t) == value)
        };
        !self.is_empty()
            && same(&self.doctype, subject.doctype)
            && self
                .doc_name
                .as_deref()
                .is_none_or(|name| subject.names.contains(&name))
            && same(&self.owner, subject.owner)
            && same(&self.flow_id, subject.flow_id)
            && same(&self.flow_type, subject.flow_type)
    }
}

/// Whether a `Legal Hold` document is lifted.
pub(crate) fn is_lifted(doc: &Doc) -> bool {
    match doc.get("lifted") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(s)) => s == "1" || s == "true",
        _ => false,
    }
}

/// The active holds of a store, as of one snapshot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Holds {
    active: Vec<Hold>,
}

impl Holds {
    /// The active holds `view` holds.
    pub(crate) fn load(view: &dyn View) -> Result<Holds> {
        let mut active = Vec::new();
        view.scan_docs(LEGAL_HOLD, &mut |doc| {
            active.extend(Hold::from_doc(&doc));
            true
        })?;
        active.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Holds { active })
    }

    /// Whether no hold is active.
    pub(crate) fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Names the set of active holds ("" when there is none): the pruner walks its runs
    /// again when it changes, so a lifted hold's runs are reached at the next pass.
    pub(crate) fn tag(&self) -> String {
        if self.active.is_empty() {
            return String::new();
        }
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        for hold in &self.active {
            hash.update(hold.name.as_bytes());
            hash.update([0]);
        }
        hash.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether a hold covers the stored run record `bytes` (JSON as the store keeps it).
    /// A record that cannot be read is held: nothing is pruned that cannot be checked.
    pub(crate) fn holds_run(&self, bytes: &[u8]) -> bool {
        if self.active.is_empty() {
            return false;
        }
        let Ok(run) = serde_json::from_slice::<RunTargets>(bytes) else {
            return true;
        };
        let mut names: Vec<&str> = Vec::new();
        for named in [&run.input, &run.output].into_iter().flatten() {
            names.extend(named.name.as_deref());
            names.extend(named.data.iter().filter_map(|d| d.name.as_deref()));
            names.extend(named.names.iter().flatten().map(String::as_str));
            names.extend(named.filter.as_ref().and_then(|f| f.name.as_deref()));
        }
        let subject = Subject {
            doctype: run.doctype.as_deref(),
            names,
            owner: run.owner.as_deref(),
            flow_id: run.flow_id.as_deref(),
            flow_type: run.flow_type.as_deref(),
        };
        self.active.iter().any(|hold| hold.matches(&subject))
    }

    /// Whether a hold covers document `name` of `doctype` (owned by `owner`): what a change
    /// that would rewrite its recorded history (erasure) must leave alone.
    pub(crate) fn holds_document(&self, doctype: &str, name: &str, owner: Option<&str>) -> bool {
        let subject = Subject {
            doctype: Some(doctype),
            names: vec![name],
            owner,
            ..Subject::default()
        };
        self.active.iter().any(|hold| hold.matches(&subject))
    }

    /// Whether a hold covers an audit entry (`refDoctype`, `refName`, `owner`, `flowId`,
    /// `flowType`): such an entry must not be archived or removed by any retention rule.
    pub(crate) fn holds_entry(&self, entry: &Map<String, Value>) -> bool {
        if self.active.is_empty() {
            return false;
        }
        let text = |key: &str| entry.get(key).and_then(Value::as_str);
        let subject = Subject {
            doctype: text("refDoctype"),
            names: text("refName").into_iter().collect(),
            owner: text("owner"),
            flow_id: text("flowId"),
            flow_type: text("flowType"),
        };
        self.active.iter().any(|hold| hold.matches(&subject))
    }
}

/// What a hold may name in a stored run; everything else is skipped unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunTargets {
    #[serde(default)]
    doctype: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    flow_id: Option<String>,
    #[serde(default)]
    flow_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    input: Option<Named>,
    #[serde(default, deserialize_with = "lenient")]
    output: Option<Named>,
}

/// A run's input or output, as far as the documents it names.
#[derive(Deserialize, Default)]
struct Named {
    #[serde(default, deserialize_with = "lenient")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    data: Vec<NamedDoc>,
    /// A stored select's output: the names it returned.
    #[serde(default, deserialize_with = "lenient")]
    names: Option<Vec<String>>,
    /// A select's `where: {"name": ..}`.
    #[serde(default, rename = "where", deserialize_with = "lenient")]
    filter: Option<NamedDoc>,
}

#[derive(Deserialize, Default)]
struct NamedDoc {
    #[serde(default, deserialize_with = "lenient")]
    name: Option<String>,
}

/// A value of the expected shape, or `None` for any other (a run's input may be anything).
fn lenient<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// A list of documents: a list, or one document; anything else is no document.
fn lenient_list<'de, D>(deserializer: D) -> std::result::Result<Vec<NamedDoc>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect(),
        Value::Object(_) => serde_json::from_value(value).into_iter().collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(docs: &[Value]) -> Holds {
        let active = docs
            .iter()
            .filter_map(|d| Hold::from_doc(&serde_json::from_value(d.clone()).unwrap()))
            .collect();
        Holds { active }
    }

    #[test]
    fn a_hold_matches_what_all_its_targets_match() {
        let h = holds(&[
            json!({"name": "HOLD-1", "heldDoctype": "ToDo", "heldName": "T-1"}),
            json!({"name": "HOLD-2", "heldOwner": "ann", "heldFlowType": "import"}),
            json!({"name": "HOLD-3", "heldFlowId": "F1", "lifted": 1}),
        ]);
        let run = |v: Value| serde_json::to_vec(&v).unwrap();
        assert!(h.holds_run(&run(json!({"doctype": "ToDo", "input": {"name": "T-1"}}))));
        assert!(h.holds_run(&run(
            json!({"doctype": "ToDo", "input": {"data": {}}, "output": {"data": [{"name": "T-1"}]}})
        )));
        assert!(!h.holds_run(&run(json!({"doctype": "ToDo", "input": {"name": "T-2"}}))));
        assert!(h.holds_run(&run(
            json!({"doctype": "ToDo", "output": {"names": ["T-1"]}})
        )));
        assert!(h.holds_run(&run(
            json!({"doctype": "ToDo", "input": {"where": {"name": "T-1"}}})
        )));
        assert!(!h.holds_run(&run(json!({"doctype": "Note", "input": {"name": "T-1"}}))));
        assert!(h.holds_run(&run(
            json!({"owner": "ann", "flowType": "import", "input": 3})
        )));
        assert!(!h.holds_run(&run(json!({"owner": "ann"}))));
        assert!(
            !h.holds_run(&run(json!({"flowId": "F1"}))),
            "lifted holds hold nothing"
        );
        let entry = |v: Value| v.as_object().unwrap().clone();
        assert!(h.holds_entry(&entry(json!({"refDoctype": "ToDo", "refName": "T-1"}))));
        assert!(!h.holds_entry(&entry(json!({"refDoctype": "ToDo", "refName": "T-9"}))));
        assert!(holds(&[]).tag().is_empty());
        assert_ne!(
            h.tag(),
            holds(&[json!({"name": "HOLD-1", "heldOwner": "x"})]).tag()
        );
    }
}
