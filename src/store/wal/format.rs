//! The redo log's format: the changes of a batch as one record's payload, the tables they
//! name, the file header and the record framing with its checksum, and reading the records
//! of a log image back. Nothing here touches a file.

use super::super::layout::{AUDIT, Bytes, COUNTERS, DOC_INDEX, DOCS, META, RUN_INDEX, RUNS};
use crate::error::{Error, Result};
use redb::WriteTransaction;
use std::ops::Range;

/// The first bytes of every log file.
pub(in crate::store) const MAGIC: &[u8; 16] = b"coworker redo 1\n";
/// Magic, log id (u64 LE), crc32 of both (u32 LE), 4 bytes of zeros.
pub(in crate::store) const HEADER_LEN: u64 = 32;
/// LSN (u64 LE), payload length (u32 LE), crc32 (u32 LE).
pub(in crate::store) const RECORD_HEADER_LEN: usize = 16;
/// The largest change buffer kept from one batch for the next (bytes).
const KEPT_BUFFER: usize = 1 << 20;

/// The tables a change may touch, as the log names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum LoggedTable {
    Docs = 0,
    Runs = 1,
    RunIndex = 2,
    DocIndex = 3,
    Counters = 4,
    /// Keys are the entry's sequence number, 8 bytes big endian.
    Audit = 5,
    Meta = 6,
}

impl LoggedTable {
    pub(in crate::store) fn from_byte(byte: u8) -> Option<Self> {
        use LoggedTable::*;
        [Docs, Runs, RunIndex, DocIndex, Counters, Audit, Meta]
            .into_iter()
            .find(|t| *t as u8 == byte)
    }
}

/// One batch's changes in the log's encoding, in the order they were made:
/// `1 | table | key length u32 | key | value length u32 | value` for a put,
/// `2 | table | key length u32 | key` for a remove.
///
/// The buffer starts with room for the record header, so a record is appended as it was
/// captured, without a copy.
#[derive(Debug)]
pub(in crate::store) struct Changes {
    /// The record header's room, then the encoded changes.
    bytes: Vec<u8>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            bytes: vec![0; RECORD_HEADER_LEN],
        }
    }
}

pub(in crate::store) const PUT: u8 = 1;
pub(in crate::store) const REMOVE: u8 = 2;

impl Changes {
    /// `key` of `table` was set to `value`.
    pub(in crate::store) fn put(&mut self, table: LoggedTable, key: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(&[PUT, table as u8]);
        self.chunk(key);
        self.chunk(value);
    }

    /// `key` of `table` was removed.
    pub(in crate::store) fn remove(&mut self, table: LoggedTable, key: &[u8]) {
        self.bytes.extend_from_slice(&[REMOVE, table as u8]);
        self.chunk(key);
    }

    pub(in crate::store) fn chunk(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("keys and values are under 4 GiB");
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(bytes);
    }

    /// Forget every change (the batch was logged, or abandoned). The buffer is kept for the
    /// next batch unless a bulk batch made it large.
    pub(in crate::store) fn clear(&mut self) {
        if self.bytes.capacity() > KEPT_BUFFER {
            *self = Changes::default();
        } else {
            self.bytes.truncate(RECORD_HEADER_LEN);
        }
    }

    /// The encoded changes.
    pub(in crate::store) fn bytes(&self) -> &[u8] {
        &self.bytes[RECORD_HEADER_LEN..]
    }

    /// The whole record: `head`, then the encoded changes.
    pub(in crate::store) fn record(&mut self, head: &[u8; RECORD_HEADER_LEN]) -> &[u8] {
        self.bytes[..RECORD_HEADER_LEN].copy_from_slice(head);
        &self.bytes
    }
}

/// One decoded change.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::store) enum Change<'a> {
    Put(LoggedTable, &'a [u8], &'a [u8]),
    Remove(LoggedTable, &'a [u8]),
}

/// The changes of one record's payload, or why it cannot be read (a checksummed record that
/// does not decode was written by something else: refused, never skipped).
pub(in crate::store) fn decode(mut payload: &[u8]) -> std::result::Result<Vec<Change<'_>>, String> {
    pub(in crate::store) fn chunk<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let bytes = rest.get(4..4 + len)?;
        *rest = &rest[4 + len..];
        Some(bytes)
    }
    let mut changes = Vec::new();
    while let [op, table, rest @ ..] = payload {
        let table = LoggedTable::from_byte(*table).ok_or("an unknown table")?;
        let mut rest = rest;
        let key = chunk(&mut rest).ok_or("a truncated key")?;
        changes.push(match *op {
            PUT => Change::Put(table, key, chunk(&mut rest).ok_or("a truncated value")?),
            REMOVE => Change::Remove(table, key),
            _ => return Err("an unknown kind of change".into()),
        });
        payload = rest;
    }
    if !payload.is_empty() {
        return Err("a truncated change".into());
    }
    Ok(changes)
}

/// Apply a record's changes to the store's tables in `txn`.
pub(in crate::store) fn apply(txn: &WriteTransaction, changes: &[Change<'_>]) -> Result<()> {
    let mut docs = txn.open_table(DOCS)?;
    let mut runs = txn.open_table(RUNS)?;
    let mut run_index = txn.open_table(RUN_INDEX)?;
    let mut doc_index = txn.open_table(DOC_INDEX)?;
    let mut counters = txn.open_table(COUNTERS)?;
    let mut audit = txn.open_table(AUDIT)?;
    let mut meta = txn.open_table(META)?;
    for change in changes {
        let (table, key, value) = match change {
            Change::Put(table, key, value) => (*table, *key, Some(*value)),
            Change::Remove(table, key) => (*table, *key, None),
        };
        if table == LoggedTable::Audit {
            let seq = u64::from_be_bytes(key.try_into().map_err(|_| {
                Error::Storage("the redo log holds an audit key that is not 8 bytes".into())
            })?);
            match value {
                Some(value) => drop(audit.insert(seq, value)?),
                None => drop(audit.remove(seq)?),
            }
            continue;
        }
        let table: &mut redb::Table<'_, Bytes, Bytes> = match table {
            LoggedTable::Docs => &mut docs,
            LoggedTable::Runs => &mut runs,
            LoggedTable::RunIndex => &mut run_index,
            LoggedTable::DocIndex => &mut doc_index,
            LoggedTable::Counters => &mut counters,
            LoggedTable::Meta => &mut meta,
            LoggedTable::Audit => unreachable!("handled above"),
        };
        match value {
            Some(value) => drop(table.insert(key, value)?),
            None => drop(table.remove(key)?),
        }
    }
    Ok(())
}

/// CRC-32 (IEEE), slicing by 8 bytes: eight tables, each step folding 8 input bytes
/// (a 2 KB record per create, megabytes per bulk run, so the byte-at-a-time loop showed).
pub(in crate::store) fn crc32(parts: &[&[u8]]) -> u32 {
    const TABLES: [[u32; 256]; 8] = {
        let mut tables = [[0u32; 256]; 8];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            tables[0][i] = c;
            i += 1;
        }
        let mut t = 1;
        while t < 8 {
            let mut i = 0;
            while i < 256 {
                let previous = tables[t - 1][i];
                tables[t][i] = (previous >> 8) ^ tables[0][(previous & 0xFF) as usize];
                i += 1;
            }
            t += 1;
        }
        tables
    };
    let byte =
        |crc: u32, byte: u8| TABLES[0][((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    let mut crc = !0u32;
    for part in parts {
        let mut words = part.chunks_exact(8);
        for word in &mut words {
            let low = crc ^ u32::from_le_bytes(word[..4].try_into().expect("4 bytes"));
            let high = u32::from_le_bytes(word[4..].try_into().expect("4 bytes"));
            crc = TABLES[7][(low & 0xFF) as usize]
                ^ TABLES[6][((low >> 8) & 0xFF) as usize]
                ^ TABLES[5][((low >> 16) & 0xFF) as usize]
                ^ TABLES[4][(low >> 24) as usize]
                ^ TABLES[3][(high & 0xFF) as usize]
                ^ TABLES[2][((high >> 8) & 0xFF) as usize]
                ^ TABLES[1][((high >> 16) & 0xFF) as usize]
                ^ TABLES[0][(high >> 24) as usize];
        }
        for b in words.remainder() {
            crc = byte(crc, *b);
        }
    }
    !crc
}

/// The header of a log belonging to the store with log id `id`.
pub(in crate::store) fn header(id: u64) -> [u8; HEADER_LEN as usize] {
    let mut header = [0u8; HEADER_LEN as usize];
    header[..16].copy_from_slice(MAGIC);
    header[16..24].copy_from_slice(&id.to_le_bytes());
    let crc = crc32(&[&header[..24]]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// What a log file's header says.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::store) enum Header {
    /// No header (an empty or zeroed file): no log.
    Absent,
    /// The log of the store with this log id.
    Of(u64),
    /// Something else.
    Garbage,
}

pub(in crate::store) fn read_header(image: &[u8]) -> Header {
    let Some(bytes) = image.get(..HEADER_LEN as usize) else {
        return if image.iter().all(|b| *b == 0) {
            Header::Absent
        } else {
            Header::Garbage
        };
    };
    if bytes.iter().all(|b| *b == 0) {
        return Header::Absent;
    }
    let id = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    if bytes[..16] != MAGIC[..] || bytes[24..28] != crc32(&[&bytes[..24]]).to_le_bytes() {
        return Header::Garbage;
    }
    Header::Of(id)
}

/// The valid records of a log image after its header, in order, as (LSN, payload range):
/// they end at the first record that is torn, fails its checksum, or does not follow its
/// predecessor's LSN (stale bytes of an earlier round).
pub(in crate::store) fn records(image: &[u8], id: u64) -> Vec<(u64, Range<usize>)> {
    let mut found: Vec<(u64, Range<usize>)> = Vec::new();
    let mut at = HEADER_LEN as usize;
    while let Some(head) = image.get(at..at + RECORD_HEADER_LEN) {
        let lsn = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(head[12..16].try_into().expect("4 bytes"));
        let start = at + RECORD_HEADER_LEN;
        let Some(payload) = image.get(start..start + len) else {
            break;
        };
        let follows = found.last().is_none_or(|(last, _)| lsn == last + 1);
        if lsn == 0 || !follows || crc != crc32(&[&id.to_le_bytes(), &head[..12], payload]) {
            break;
        }
        found.push((lsn, start..start + len));
        at = start + len;
    }
    found
}

/// The records to replay over a store file that holds every batch up to `checkpoint`: the
/// valid ones above it. Refused when they do not continue from it (a record is missing).
pub(in crate::store) fn to_replay(
    found: Vec<(u64, Range<usize>)>,
    checkpoint: u64,
) -> std::result::Result<Vec<(u64, Range<usize>)>, String> {
    let newer: Vec<_> = found
        .into_iter()
        .filter(|(lsn, _)| *lsn > checkpoint)
        .collect();
    match newer.first() {
        Some((first, _)) if *first != checkpoint + 1 => Err(format!(
            "its records continue at LSN {first}, but the store file holds batches up to LSN \
             {checkpoint}: the batches between them are missing"
        )),
        _ => Ok(newer),
    }
}
