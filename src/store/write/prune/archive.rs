//! A pruner's pass that archives what it prunes: the full record of every run it removes
//! or cuts to a stub is appended to the day's archive (`runs-YYYY-MM-DD.jsonl.gz`, see
//! `crate::archive`) and synced before the pass's changes can commit.
//!
//! The records are found by the same pass run dry first, in the same transaction (nothing
//! else writes meanwhile: the pass holds the writer), so a failure to write the archive
//! leaves the store untouched. The file's committed length is a store fact written in the
//! pass's transaction: a tail appended by a pass that never committed (a crash between the
//! sync and the commit) is cut off at the next write, and those runs, still in the store,
//! are archived again then.

use super::{PrunePass, PruneStep, RunFacts, Verdict, WriteTables};
use crate::error::{Error, Result};
use redb::ReadableTable;

/// Store facts `archive\0` + file name: the file's length as of the last commit.
const LENGTH_PREFIX: &str = "archive\0";

impl WriteTables<'_> {
    /// One pass of the pruner (`prune_pass`), archiving the records it prunes first when
    /// `pass.archive_dir` says where.
    pub(in crate::store) fn prune_pass_archived(
        &mut self,
        pass: &PrunePass<'_>,
        decide: &dyn Fn(&RunFacts<'_>) -> Verdict,
    ) -> Result<PruneStep> {
        let Some(dir) = pass.archive_dir.filter(|_| !pass.dry_run) else {
            return self.prune_pass(pass, decide, None);
        };
        let name = crate::archive::runs_file_name(pass.now_ms);
        let dry = PrunePass {
            dry_run: true,
            ..*pass
        };
        let planned = self.prune_pass(&dry, decide, Some(&name))?.lines;
        let mut length = self.archive_length(&name)?;
        if !planned.is_empty() {
            length = self.append(dir, &name, length, planned.values())?;
        }
        let mut step = self.prune_pass(pass, decide, Some(&name))?;
        // The pass pruned what its dry run found (never more): anything else is archived
        // now, still before the commit.
        let unplanned: Vec<&Vec<u8>> = step
            .lines
            .iter()
            .filter(|(id, _)| !planned.contains_key(*id))
            .map(|(_, line)| line)
            .collect();
        if !unplanned.is_empty() {
            tracing::warn!(
                "the pruner's pass pruned {} runs its dry run did not find",
                unplanned.len()
            );
            length = self.append(dir, &name, length, unplanned.into_iter())?;
        }
        step.archived = step.lines.len() as u64;
        step.lines.clear();
        if step.archived > 0 {
            self.set_meta(&format!("{LENGTH_PREFIX}{name}"), &length.to_be_bytes())?;
        }
        Ok(step)
    }

    /// Append `lines` to archive `dir/name`, `committed` bytes long as of the last commit;
    /// returns its new length.
    fn append<'l>(
        &mut self,
        dir: &std::path::Path,
        name: &str,
        committed: u64,
        lines: impl Iterator<Item = &'l Vec<u8>>,
    ) -> Result<u64> {
        let lines: Vec<&[u8]> = lines.map(Vec::as_slice).collect();
        let header = crate::archive::header("runs", serde_json::Map::new());
        crate::archive::append_member(dir, name, committed, &header, &lines)
    }

    /// Archive `name`'s length as of the last commit (0 before its first write).
    fn archive_length(&self, name: &str) -> Result<u64> {
        let key = format!("{LENGTH_PREFIX}{name}");
        match self.meta.get(key.as_bytes())? {
            Some(bytes) => {
                let bytes: [u8; 8] = bytes.value().try_into().map_err(|_| {
                    Error::Storage(format!(
                        "the recorded length of archive {name} is not 8 bytes"
                    ))
                })?;
                Ok(u64::from_be_bytes(bytes))
            }
            None => Ok(0),
        }
    }
}

impl super::super::super::RedbStore {
    /// Where the store file is (`None` for a store in memory): the default archive
    /// directory is beside it.
    pub(crate) fn file_path(&self) -> Option<&std::path::Path> {
        self.file.path.as_deref()
    }
}
