//! Redaction (GDPR erasure): the one path that rewrites a committed audit entry or run
//! record in place. It replaces bytes, nothing else: the entry keeps its sequence number
//! (and, as the caller has checked, its hash), the record its id and run-index entries.
//!
//! The store does not judge what is redacted: the audit module checks that a redacted entry
//! still chains before handing it here. Each rewrite is undone with the run that made it,
//! and captured in the redo log like any change.

use super::super::record::Record;
use super::super::wal::LoggedTable;
use super::{TableKind, Undo, WriteTables, grown};
use crate::error::{Error, Result};
use redb::ReadableTable;

impl WriteTables<'_> {
    /// Replace the bytes of committed audit entry `seq` (which must exist).
    pub(in crate::store) fn redact_audit(&mut self, seq: u64, bytes: &[u8]) -> Result<()> {
        let before = self
            .audit
            .insert(seq, bytes)
            .map_err(grown)?
            .map(|old| old.value().to_vec());
        let Some(before) = before else {
            self.audit.remove(seq).map_err(grown)?;
            return Err(Error::internal(format!(
                "audit entry {seq} does not exist: only an existing entry is redacted"
            )));
        };
        self.logged(LoggedTable::Audit, &seq.to_be_bytes(), Some(bytes));
        self.undo.push(Undo {
            table: TableKind::Audit,
            key: seq.to_be_bytes().to_vec(),
            before: Some(before),
        });
        Ok(())
    }

    /// Replace a stored run record by `record` (a redaction of it: same id, same indexed
    /// fields).
    pub(in crate::store) fn redact_record(&mut self, record: &Record) -> Result<()> {
        if self.runs.get(record.id.as_bytes())?.is_none() {
            return Err(Error::internal(format!(
                "run {} is not recorded: only an existing record is redacted",
                record.id
            )));
        }
        self.set(
            TableKind::Runs,
            record.id.as_bytes().to_vec(),
            &record.bytes,
        )
        .map(|_| ())
    }
}
