//! What the pruner reads of stored run records and audit entries (everything else is
//! skipped unparsed), and the stub it writes in place of a run it keeps.

use crate::error::{Error, Result};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The parts of a stored run the pruner reads (everything else is skipped unparsed).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoredFacts {
    pub(super) id: String,
    pub(super) timestamp: String,
    #[serde(default)]
    pub(super) operation: Option<String>,
    pub(super) status: String,
    #[serde(default)]
    pub(super) duration: f64,
    #[serde(default)]
    pub(super) doctype: Option<String>,
    #[serde(default)]
    pub(super) template: Option<String>,
    #[serde(default)]
    pub(super) success: bool,
    #[serde(default)]
    pub(super) parent_run_id: Option<String>,
    #[serde(default)]
    pub(super) child_run_ids: Vec<String>,
    pub(super) chain_id: String,
    #[serde(default)]
    pub(super) owner: Option<String>,
    #[serde(default)]
    pub(super) agent: Option<String>,
    #[serde(default)]
    pub(super) flow_type: Option<String>,
    #[serde(default)]
    pub(super) flow_id: Option<String>,
    #[serde(default)]
    pub(super) step_id: Option<String>,
    #[serde(default)]
    pub(super) options: StoredOptions,
    #[serde(default)]
    pub(super) output: Option<PrunedMark>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoredOptions {
    #[serde(default)]
    pub(super) keep_alive: Option<bool>,
}

/// Whether a stored output is a stub's (`{"pruned": true, ...}`); any other output is
/// skipped unparsed.
pub(super) struct PrunedMark(pub(super) bool);

impl<'de> Deserialize<'de> for PrunedMark {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = PrunedMark;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a run's output")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<PrunedMark, A::Error> {
                let mut pruned = false;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "pruned" {
                        pruned = map.next_value::<serde_json::Value>()? == serde_json::json!(true);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(PrunedMark(pruned))
            }
            fn visit_unit<E>(self) -> std::result::Result<PrunedMark, E> {
                Ok(PrunedMark(false))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<PrunedMark, E> {
                Ok(PrunedMark(false))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<PrunedMark, E> {
                Ok(PrunedMark(false))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<PrunedMark, E> {
                Ok(PrunedMark(false))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<PrunedMark, E> {
                Ok(PrunedMark(false))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<PrunedMark, E> {
                Ok(PrunedMark(false))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<PrunedMark, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(PrunedMark(false))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

impl StoredFacts {
    pub(super) fn parse(id: &str, bytes: &[u8]) -> Result<StoredFacts> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::Storage(format!(
                "the stored record of run {id} cannot be read for pruning: {e}"
            ))
        })
    }

    /// The fields its run-index entries are keyed by, as a record (no bytes).
    pub(super) fn listed(&self) -> crate::store::Record {
        crate::store::Record::listed(
            &self.id,
            &self.chain_id,
            self.parent_run_id.as_deref(),
            self.flow_id.as_deref(),
            self.owner.as_deref(),
            &self.status,
        )
    }

    pub(super) fn is_stub(&self) -> bool {
        self.output.as_ref().is_some_and(|mark| mark.0)
    }

    /// When the run ended, in ms since the Unix epoch.
    pub(super) fn ended_ms(&self) -> u64 {
        started_ms(&self.id).saturating_add(self.duration.max(0.0).ceil() as u64)
    }

    /// The stub kept in place of this run: who, what, when and where it sat in its tree.
    pub(super) fn stub(
        &self,
        children: &[&String],
        pruned_at: &str,
        archive: Option<&str>,
    ) -> Vec<u8> {
        let mut stub = serde_json::Map::new();
        let mut put = |key: &str, value: serde_json::Value| {
            if !value.is_null() {
                stub.insert(key.into(), value);
            }
        };
        use serde_json::json;
        put("id", json!(self.id));
        put("timestamp", json!(self.timestamp));
        put("operation", json!(self.operation));
        put("status", json!(self.status));
        put("duration", json!(self.duration));
        put("doctype", json!(self.doctype));
        put("template", json!(self.template));
        let mut output = json!({"pruned": true, "prunedAt": pruned_at});
        if let Some(archive) = archive {
            output["archive"] = json!(archive);
        }
        put("output", output);
        put("success", json!(self.success));
        put("parentRunId", json!(self.parent_run_id));
        if !children.is_empty() {
            put("childRunIds", json!(children));
        }
        put("chainId", json!(self.chain_id));
        put("owner", json!(self.owner));
        put("agent", json!(self.agent));
        put("flowType", json!(self.flow_type));
        put("flowId", json!(self.flow_id));
        put("stepId", json!(self.step_id));
        serde_json::to_vec(&stub).expect("a map of JSON values encodes")
    }
}

/// When run `id` started: the millisecond its ULID leads with (0 for an id that is not one).
pub(crate) fn started_ms(id: &str) -> u64 {
    ulid::Ulid::from_string(id).map_or(0, |ulid| ulid.timestamp_ms())
}

/// The smallest run id of runs started at `ms` (every id of an earlier start sorts below).
pub(super) fn first_id_at(ms: u64) -> String {
    ulid::Ulid::from_parts(ms, 0).to_string()
}

/// An audit entry's time and run, everything else skipped unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuditFacts {
    #[serde(default)]
    pub(super) timestamp: String,
    #[serde(default)]
    pub(super) run_id: Option<String>,
}

impl AuditFacts {
    /// Audit entry `seq`'s time and run.
    pub(super) fn parse(seq: u64, bytes: &[u8]) -> Result<AuditFacts> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Storage(format!("audit entry {seq} is not valid JSON: {e}")))
    }
}
