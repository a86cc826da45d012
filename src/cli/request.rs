//! `coworker run`: the request is read from `--json`, `--file` or standard input (`-`).

use super::Fatal;
use std::io::Read;
use std::path::PathBuf;

/// The request text from exactly one of `--json`, `--file` or `-` (standard input).
pub(crate) fn read_request(
    json: Option<String>,
    file: Option<PathBuf>,
    stdin: Option<String>,
) -> Result<String, Fatal> {
    match (json, file, stdin.as_deref()) {
        (Some(text), None, None) => Ok(text),
        (None, Some(path), None) => std::fs::read_to_string(&path)
            .map_err(|e| Fatal(format!("cannot read {}: {e}", path.display()))),
        (None, None, Some("-")) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Ok(text)
        }
        _ => Err(Fatal(
            "give the request as --json JSON, --file FILE or - (standard input)".into(),
        )),
    }
}
