//! Archive files (the format, writing, reading lines; `RunArchive` reads runs back in
//! `engine`): pruned run records and archived audit segments, written before the store
//! lets them go, in a format any tool reads without the engine.
//!
//! An archive is gzip (possibly several members one after the other, which every gzip
//! reader takes as one stream) of JSON lines: the first line a header
//! `{"format":"coworker-archive","version":1,"kind":"runs"|"audit",...}`, then one line
//! per record exactly as the store held it (a run as `runs show` prints it, an audit entry
//! with its `hash` and `prevHash`). `zcat FILE | jq` reads one.
//!
//! Writes are crash-safe with the store: the bytes are appended and synced *before* the
//! store transaction that drops the records commits, and the store records the file's
//! committed length in the same transaction; a tail written by a pass whose transaction
//! never committed is cut off at the next write ([`append_member`]).

use crate::audit::sha256_hex;
use crate::error::{Error, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

mod audit;
pub use audit::{ArchiveCheck, ArchivedSegment, AuditArchiveReport};
pub(crate) use audit::{AuditArchive, check_archive};

/// The `format` every archive's header names.
pub(crate) const FORMAT: &str = "coworker-archive";
/// The archive format's version.
pub(crate) const VERSION: u64 = 1;

/// The header line of an archive of `kind` (`runs` or `audit`), with `extra` keys after.
pub(crate) fn header(kind: &str, extra: serde_json::Map<String, Value>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("format".into(), json!(FORMAT));
    header.insert("version".into(), json!(VERSION));
    header.insert("kind".into(), json!(kind));
    header.extend(extra);
    serde_json::to_vec(&Value::Object(header)).expect("a map of JSON values encodes")
}

/// The archive of run records pruned on the day `ms` (UTC) falls in:
/// `runs-YYYY-MM-DD.jsonl.gz`.
pub(crate) fn runs_file_name(ms: u64) -> String {
    let day = jiff::Timestamp::from_millisecond(ms as i64)
        .unwrap_or_default()
        .strftime("%Y-%m-%d");
    format!("runs-{day}.jsonl.gz")
}

/// One gzip member holding `lines` (each a JSON text without a newline), each followed by
/// a newline.
fn member(lines: &[&[u8]]) -> Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    for line in lines {
        gz.write_all(line)
            .and_then(|()| gz.write_all(b"\n"))
            .map_err(|e| Error::internal(format!("compressing an archive: {e}")))?;
    }
    gz.finish()
        .map_err(|e| Error::internal(format!("compressing an archive: {e}")))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Storage(format!("{what} archive {}: {e}", path.display()))
}

/// Append one gzip member holding `lines` to `dir/name` (a new file starts with `header`)
/// and sync it to disk. `committed` is the file's length as of the store's last commit:
/// a longer file holds a tail no commit vouches for (a pass that crashed or failed after
/// writing it, whose records are still in the store), cut off first. Returns the new
/// length, which the caller records in the transaction that drops the records.
pub(crate) fn append_member(
    dir: &Path,
    name: &str,
    committed: u64,
    header: &[u8],
    lines: &[&[u8]],
) -> Result<u64> {
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create the directory of", dir, e))?;
    let path = dir.join(name);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| io("cannot open", &path, e))?;
    let length = file
        .metadata()
        .map_err(|e| io("cannot read", &path, e))?
        .len();
    if length < committed {
        return Err(Error::Storage(format!(
            "archive {} is {length} bytes but the store recorded {committed} committed: it was cut short or replaced",
            path.display()
        )));
    }
    if length > committed {
        tracing::warn!(
            "archive {}: cutting {} bytes no commit vouches for",
            path.display(),
            length - committed
        );
        file.set_len(committed)
            .map_err(|e| io("cannot truncate", &path, e))?;
    }
    let mut all: Vec<&[u8]> = Vec::with_capacity(lines.len() + 1);
    if committed == 0 {
        all.push(header);
    }
    all.extend_from_slice(lines);
    let bytes = member(&all)?;
    file.seek(SeekFrom::Start(committed))
        .and_then(|_| file.write_all(&bytes))
        .and_then(|()| file.sync_all())
        .map_err(|e| io("cannot write", &path, e))?;
    if committed == 0 {
        sync_dir(dir);
    }
    Ok(committed + bytes.len() as u64)
}

/// Write a whole archive `dir/name` (replacing one there) and sync it; returns its bytes'
/// SHA-256 (hex).
pub(crate) fn write_whole(
    dir: &Path,
    name: &str,
    header: &[u8],
    lines: &[&[u8]],
) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create the directory of", dir, e))?;
    let mut all: Vec<&[u8]> = Vec::with_capacity(lines.len() + 1);
    all.push(header);
    all.extend_from_slice(lines);
    let bytes = member(&all)?;
    let path = dir.join(name);
    let partial = dir.join(format!("{name}.partial"));
    let mut file = File::create(&partial).map_err(|e| io("cannot create", &partial, e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io("cannot write", &partial, e))?;
    std::fs::rename(&partial, &path).map_err(|e| io("cannot rename", &path, e))?;
    sync_dir(dir);
    Ok(sha256_hex(&bytes))
}

/// Make a directory entry durable (best effort: not every platform syncs directories).
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// An archive read back: its header and its record lines, as written.
pub(crate) struct Lines {
    /// The header line, parsed.
    pub(crate) header: serde_json::Map<String, Value>,
    /// Every other line, unparsed.
    pub(crate) lines: Vec<Vec<u8>>,
}

/// Read archive `path` of `kind`: a file that is no archive of that kind is refused with
/// BAD_REQUEST saying why. A run archive's last gzip member that does not decode is a tail
/// cut by a crash before its pass committed (those runs are still in the store, and the
/// next write cuts it off): it is skipped with a warning.
pub(crate) fn read_lines(path: &Path, kind: &str) -> Result<Lines> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::bad_request(format!("cannot read archive {}: {e}", path.display())))?;
    read_bytes(path, &bytes, kind)
}

/// [`read_lines`] of an archive's bytes.
pub(crate) fn read_bytes(path: &Path, bytes: &[u8], kind: &str) -> Result<Lines> {
    let bad = |why: String| {
        Error::bad_request(format!("{} is not a {kind} archive: {why}", path.display()))
    };
    let mut text = Vec::new();
    let mut rest = bytes;
    let mut members = 0;
    while !rest.is_empty() {
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let mut member = Vec::new();
        match decoder.read_to_end(&mut member) {
            Ok(_) => {
                rest = decoder.into_inner();
                text.extend_from_slice(&member);
                members += 1;
            }
            Err(e) if members > 0 && kind == "runs" => {
                tracing::warn!(
                    "archive {}: skipping {} bytes at its end that do not decode ({e}): a write cut by a crash",
                    path.display(),
                    rest.len()
                );
                break;
            }
            Err(e) => return Err(bad(format!("it cannot be read as gzip ({e})"))),
        }
    }
    let mut lines = text.split(|b| *b == b'\n').filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(first).map_err(|e| bad(format!("its header is not JSON ({e})")))?;
    if header.get("format") != Some(&json!(FORMAT))
        || header.get("kind") != Some(&json!(kind))
        || header.get("version") != Some(&json!(VERSION))
    {
        return Err(bad(format!(
            "its header is {}",
            Value::Object(header.clone())
        )));
    }
    Ok(Lines {
        header,
        lines: lines.map(<[u8]>::to_vec).collect(),
    })
}

/// Where a store's archives go unless the settings say: `<store path>.archive/`.
pub(crate) fn default_dir(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".archive");
    PathBuf::from(name)
}
