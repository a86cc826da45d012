//! A pruner's pass that archives what it prunes: the full record of every run it removes
//! or cuts to a stub is appended to the day's archive (`runs-YYYY-MM-DD.jsonl.gz`, see
//! `crate::archive`) and synced before the pass's changes can commit (the group commit
//! runs after the pass returns).
//!
//! Should the archive not be written, the pass takes itself back before it returns the
//! error: its store facts through the undo log, the records it removed or cut to stubs
//! (and their run-index entries) put back from the copies it archived. The file's
//! committed length is a store fact written in the pass's transaction: a tail appended by a
//! pass that never committed (a crash between the sync and the commit) is cut off at the
//! next write, and those runs, still in the store, are archived again then.

use super::super::super::layout::run_index_key;
use super::super::super::record::RUN_INDEX_FIELDS;
use super::super::super::wal::LoggedTable;
use super::facts::StoredFacts;
use super::{PrunePass, PruneStep, RunFacts, Verdict, WriteTables, grown};
use crate::error::{Error, Result};
use redb::ReadableTable;

/// Store facts `archive\0` + file name: the file's length as of the last commit.
const LENGTH_PREFIX: &str = "archive\0";

impl WriteTables<'_> {
    /// One pass of the pruner (`prune_pass`), archiving the records it prunes before it
    /// returns when `pass.archive_dir` says where.
    pub(in crate::store) fn prune_pass_archived(
        &mut self,
        pass: &PrunePass<'_>,
        decide: &dyn Fn(&RunFacts<'_>) -> Verdict,
    ) -> Result<PruneStep> {
        let Some(dir) = pass.archive_dir.filter(|_| !pass.dry_run) else {
            return self.prune_pass(pass, decide, None);
        };
        let name = crate::archive::runs_file_name(pass.now_ms);
        let mark = crate::store::WriteTx::mark(self);
        let mut step = self.prune_pass(pass, decide, Some(&name))?;
        if step.lines.is_empty() {
            return Ok(step);
        }
        let written = self
            .archive_length(&name)
            .and_then(|committed| self.append(dir, &name, committed, step.lines.values()));
        let length = match written {
            Ok(length) => length,
            Err(error) => {
                crate::store::WriteTx::rollback_to(self, mark)?;
                for (id, bytes) in &step.lines {
                    self.restore_run(id, bytes)?;
                }
                return Err(error);
            }
        };
        self.set_meta(&format!("{LENGTH_PREFIX}{name}"), &length.to_be_bytes())?;
        step.archived = step.lines.len() as u64;
        step.lines.clear();
        Ok(step)
    }

    /// Put a pruned run's record back as it was, with its run-index entries.
    fn restore_run(&mut self, id: &str, bytes: &[u8]) -> Result<()> {
        let facts = StoredFacts::parse(id, bytes)?;
        self.runs.insert(id.as_bytes(), bytes).map_err(grown)?;
        self.log_run(id, Some(bytes));
        let record = facts.listed();
        for (field, value_of) in RUN_INDEX_FIELDS {
            if let Some(value) = value_of(&record) {
                let key = run_index_key(field, value, id);
                self.run_index
                    .insert(key.as_slice(), [].as_slice())
                    .map_err(grown)?;
                self.logged(LoggedTable::RunIndex, &key, Some(&[]));
            }
        }
        Ok(())
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
