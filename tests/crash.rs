//! A host process writing to the store is killed (SIGKILL) at random moments, 20 times: each
//! time the store reopens cleanly, every write the host had acknowledged is there, with its
//! run record, and no document outlives the run that wrote it.
//!
//! The writer is this test binary itself, re-executed to run the ignored `child_writer` test
//! with `COWORKER_CRASH_CHILD_DB` set; it prints one `ACK ...` line per acknowledged write.
//! With `COWORKER_CRASH_CHILD_CLIENTS` set it writes from that many threads at once while
//! another thread checkpoints the redo log over and over, so kills land during group
//! commits, log syncs and checkpoints; a second writer killed as it opens the store lands
//! during the recovery from the log.

use crate::harness::*;
use coworker::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where the child writes; its presence makes `child_writer` a writer.
const CHILD_DB: &str = "COWORKER_CRASH_CHILD_DB";
/// A tag that keeps each child's document names apart.
const CHILD_TAG: &str = "COWORKER_CRASH_CHILD_TAG";
/// How many threads of the child write at once (one when unset).
const CHILD_CLIENTS: &str = "COWORKER_CRASH_CHILD_CLIENTS";
const KILLS: usize = 20;
/// A child never outlives this, even if nobody kills it.
const CHILD_MAX_LIFE: Duration = Duration::from_secs(60);

const NOTE: &str = "CrashNote";
const ITEM: &str = "CrashItem";

/// A small xorshift generator: random enough for kill times, no dependency.
struct XorShift(u64);

impl XorShift {
    /// Seeded from `COWORKER_CRASH_SEED` when set (to replay a failure), else from the clock;
    /// the seed is printed so a failing run can be replayed.
    fn seeded(test: &str) -> Self {
        let seed = std::env::var("COWORKER_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x9E37_79B9_7F4A_7C15)
            });
        eprintln!("{test}: seed {seed} (replay with COWORKER_CRASH_SEED={seed})");
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `low..high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

/// The writer. Without `COWORKER_CRASH_CHILD_DB` it does nothing (so `--ignored` runs pass).
#[test]
#[ignore = "child process of crash::acknowledged_writes_survive_sigkill"]
fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let tag = std::env::var(CHILD_TAG).unwrap_or_else(|_| "t".into());
    // If the parent dies without killing us, our stdin closes: stop then.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    let engine = Engine::open(&path).expect("the child opens the store");
    if let Some(clients) = std::env::var(CHILD_CLIENTS)
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        return concurrent_writer(&engine, &tag, clients);
    }
    let started = Instant::now();
    let mut out = std::io::stdout();
    let mut ack = |line: String| {
        writeln!(out, "{line}").expect("stdout is open");
        out.flush().expect("stdout flushes");
    };
    let mut last_note: Option<String> = None;
    let mut i: u64 = 0;
    while started.elapsed() < CHILD_MAX_LIFE {
        // A payload of varying size, so commits vary in size too.
        let payload = "x".repeat((i as usize * 37) % 3000);
        match i % 3 {
            0 => {
                let name = format!("{tag}-{i}");
                let run = ok(
                    &engine,
                    json!({"operation": "create", "into": NOTE, "input": {"data":
                        {"name": name, "seq": i, "payload": payload}}}),
                );
                ack(format!("ACK {NOTE} {name} {i} {}", run.id));
                last_note = Some(name);
            }
            1 => {
                let names: Vec<String> = (0..3).map(|k| format!("{tag}-{i}-{k}")).collect();
                let data: Vec<Value> = names
                    .iter()
                    .map(|name| json!({"name": name, "seq": i, "payload": payload}))
                    .collect();
                let run = ok(
                    &engine,
                    json!({"operation": "create", "into": ITEM, "input": {"data": data}}),
                );
                for name in &names {
                    ack(format!("ACK {ITEM} {name} {i} {}", run.id));
                }
            }
            _ => {
                // Update the note made two steps ago: `seq` becomes this step's number.
                let name = last_note.take().expect("a note was made two steps ago");
                let run = ok(
                    &engine,
                    json!({"operation": "update", "in": NOTE, "input": {"name": name,
                        "data": {"seq": i, "updated": true}}}),
                );
                ack(format!("ACK {NOTE} {name} {i} {}", run.id));
            }
        }
        i += 1;
    }
}

/// The child's concurrent mode: `clients` threads create notes (`ACK` once each create
/// returned), while one more thread flushes (a checkpoint of the redo log) over and over.
fn concurrent_writer(engine: &Engine, tag: &str, clients: usize) {
    let started = Instant::now();
    let ack = |line: String| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").expect("stdout is open");
        out.flush().expect("stdout flushes");
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while started.elapsed() < CHILD_MAX_LIFE {
                engine.flush().expect("a checkpoint");
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        for client in 0..clients {
            scope.spawn(move || {
                let mut i: u64 = 0;
                while started.elapsed() < CHILD_MAX_LIFE {
                    let name = format!("{tag}-c{client}-{i}");
                    let payload = "y".repeat((i as usize * 53) % 2000);
                    let run = ok(
                        engine,
                        json!({"operation": "create", "into": NOTE, "input": {"data":
                            {"name": name, "seq": i, "payload": payload}}}),
                    );
                    ack(format!("ACK {NOTE} {name} {i} {}", run.id));
                    i += 1;
                }
            });
        }
    });
}

/// One acknowledged write: the document `doctype`/`name` has `seq` (or a later value from a
/// later update), written by run `run_id`.
#[derive(Debug, Clone)]
struct Ack {
    doctype: String,
    name: String,
    seq: u64,
    run_id: String,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut words = line.strip_prefix("ACK ")?.split(' ');
    let ack = Ack {
        doctype: words.next()?.to_string(),
        name: words.next()?.to_string(),
        seq: words.next()?.parse().ok()?,
        run_id: words.next()?.to_string(),
    };
    words.next().is_none().then_some(ack)
}

/// Kills the child when dropped, so a failing parent never leaves a writer running.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start a writer on `path`; its complete stdout lines arrive on the returned channel.
fn spawn_writer(path: &std::path::Path, tag: usize) -> (ChildGuard, mpsc::Receiver<String>) {
    spawn_clients(path, tag, None)
}

/// Start a writer on `path` writing from `clients` threads at once (or the one-thread mix
/// of creates and updates); its complete stdout lines arrive on the returned channel.
fn spawn_clients(
    path: &std::path::Path,
    tag: usize,
    clients: Option<usize>,
) -> (ChildGuard, mpsc::Receiver<String>) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args([
            "crash::child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, path)
        .env(CHILD_TAG, format!("k{tag}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(clients) = clients {
        command.env(CHILD_CLIENTS, clients.to_string());
    }
    let mut child = ChildGuard(command.spawn().expect("the writer starts"));
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // Only complete lines count: a line cut by the kill was not acknowledged.
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
            if send.send(line.trim_end().to_string()).is_err() {
                break;
            }
            line.clear();
        }
    });
    (child, receive)
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let store = TempStore::new();
    let mut rng = XorShift::seeded("acknowledged_writes_survive_sigkill");
    let mut acked: Vec<Ack> = Vec::new();
    // Kills that landed while the writer was still writing: it acknowledged more writes
    // after the one the test waited for, so the kill cut a stream of commits.
    let mut kills_mid_write = 0;
    let started = Instant::now();
    for kill in 0..KILLS {
        let (mut child, lines) = spawn_writer(&store.path, kill);
        // Most kills land while writing (after the first ack); every fourth may land anywhere,
        // the opening of the store included.
        let mut received = Vec::new();
        if kill % 4 != 3 {
            // The test harness prints its own lines first: wait for a real acknowledgement.
            loop {
                let line = lines
                    .recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|e| panic!("kill {kill}: the writer never acknowledged ({e})"));
                let acked = parse_ack(&line).is_some();
                received.push(line);
                if acked {
                    break;
                }
            }
        }
        let acked_before_sleep = received.iter().filter(|l| parse_ack(l).is_some()).count();
        std::thread::sleep(Duration::from_millis(rng.between(5, 150)));
        child.0.kill().expect("SIGKILL the writer");
        let status = child.0.wait().expect("the writer is reaped");
        assert!(
            !status.success(),
            "kill {kill}: the writer was killed, not finished: {status:?}"
        );
        drop(child);
        // The reader thread ends at EOF; the channel then disconnects.
        received.extend(lines.iter());
        let new: Vec<Ack> = received.iter().filter_map(|l| parse_ack(l)).collect();
        if acked_before_sleep > 0 && new.len() > acked_before_sleep {
            kills_mid_write += 1;
        }
        acked.extend(new.iter().cloned());

        let engine = Engine::open(&store.path)
            .unwrap_or_else(|e| panic!("kill {kill}: the store does not reopen: {e}"));
        check_acknowledged(&engine, &acked, &new, kill);
        check_no_orphan_documents(&engine, kill);
    }
    assert!(
        kills_mid_write > 0,
        "no kill of {KILLS} landed while the writer was still writing: the test proved nothing"
    );

    // After all that, the store still takes writes.
    let engine = Engine::open(&store.path).unwrap();
    ok(
        &engine,
        json!({"operation": "create", "into": NOTE, "input": {"data": {"name": "after"}}}),
    );
    eprintln!(
        "crash: {KILLS} kills ({kills_mid_write} mid-write), {} acknowledged writes checked, {:.1} s",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Wait for the first acknowledgement on `lines` (the harness prints its own lines first);
/// returns the lines received.
fn first_ack(lines: &mpsc::Receiver<String>, round: usize) -> Vec<String> {
    let mut received = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("round {round}: the writer never acknowledged ({e})"));
        let acked = parse_ack(&line).is_some();
        received.push(line);
        if acked {
            return received;
        }
    }
}

/// Kill `child` and return every acknowledgement it printed, `received` included.
fn kill_and_collect(
    mut child: ChildGuard,
    lines: mpsc::Receiver<String>,
    mut received: Vec<String>,
) -> Vec<Ack> {
    child.0.kill().expect("SIGKILL the writer");
    let _ = child.0.wait();
    drop(child);
    received.extend(lines.iter());
    received.iter().filter_map(|l| parse_ack(l)).collect()
}

/// Eight clients create at once while checkpoints run back to back; the writer is killed
/// mid-stream (during group commits, log syncs and checkpoints), and every other round a
/// second writer is killed while it opens the store (during the recovery from the log).
/// Each time, every acknowledged create is there after reopen, with its completed run, and
/// the audit chain verifies.
#[test]
fn acknowledged_creates_of_eight_clients_survive_sigkill_during_commits_checkpoints_and_recovery() {
    const ROUNDS: usize = 10;
    let store = TempStore::new();
    let mut rng = XorShift::seeded(
        "acknowledged_creates_of_eight_clients_survive_sigkill_during_commits_checkpoints_and_recovery",
    );
    let mut acked: Vec<Ack> = Vec::new();
    let (mut cut_streams, mut cut_recoveries) = (0, 0);
    for round in 0..ROUNDS {
        let (child, lines) = spawn_clients(&store.path, 1000 + round, Some(8));
        let received = first_ack(&lines, round);
        let before = received.len();
        std::thread::sleep(Duration::from_millis(rng.between(20, 250)));
        let new = kill_and_collect(child, lines, received);
        if new.len() > before {
            cut_streams += 1;
        }
        acked.extend(new);
        if round % 2 == 1 {
            // The next writer recovers the store from the log as it opens: kill it then.
            let (child, lines) = spawn_clients(&store.path, 2000 + round, Some(8));
            std::thread::sleep(Duration::from_micros(rng.between(0, 40_000)));
            let new = kill_and_collect(child, lines, Vec::new());
            if new.is_empty() {
                cut_recoveries += 1;
            }
            acked.extend(new);
        }
        let engine = Engine::open(&store.path)
            .unwrap_or_else(|e| panic!("round {round}: the store does not reopen: {e}"));
        check_acknowledged(&engine, &acked, &[], round);
        let audit = engine.verify_audit().unwrap();
        assert!(
            audit.broken.is_none(),
            "round {round}: the audit chain is broken: {audit:?}"
        );
        check_no_orphan_documents(&engine, round);
    }
    assert!(
        cut_streams > 0,
        "no kill landed while the clients were writing: the test proved nothing"
    );
    eprintln!(
        "crash (8 clients): {ROUNDS} rounds, {cut_streams} cut mid-stream, {cut_recoveries} \
         writers killed before their first ack, {} acknowledged creates checked",
        acked.len()
    );
}

/// Every acknowledged write is present, with its latest acknowledged value (the writes of this
/// round are also looked up one by one, by name), and its run record is stored and completed.
fn check_acknowledged(engine: &Engine, acked: &[Ack], new: &[Ack], kill: usize) {
    for ack in new {
        let found = ok(
            engine,
            json!({"operation": "select", "from": ack.doctype,
                "input": {"where": {"name": ack.name}}}),
        );
        assert_eq!(
            found.data().len(),
            1,
            "kill {kill}: acknowledged {ack:?} is missing"
        );
    }
    // Every acknowledged run, earlier children's included, is stored and completed.
    let runs: HashMap<&str, &Ack> = acked.iter().map(|a| (a.run_id.as_str(), a)).collect();
    for (id, ack) in runs {
        let run = engine
            .get_run(id)
            .unwrap()
            .unwrap_or_else(|| panic!("kill {kill}: the run of {ack:?} is not stored"));
        assert!(
            run.success,
            "kill {kill}: the stored run of {ack:?} failed: {:?}",
            run.error
        );
        assert_eq!(run.status, coworker::RunStatus::Completed, "{ack:?}");
    }
    // All acknowledged writes so far, earlier children's included: the latest value wins.
    let mut latest: HashMap<(&str, &str), u64> = HashMap::new();
    for ack in acked {
        let seq = latest
            .entry((ack.doctype.as_str(), ack.name.as_str()))
            .or_default();
        *seq = (*seq).max(ack.seq);
    }
    for doctype in [NOTE, ITEM] {
        let wanted: Vec<&str> = latest
            .keys()
            .filter(|(d, _)| *d == doctype)
            .map(|(_, n)| *n)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let found = ok(
            engine,
            json!({"operation": "select", "from": doctype,
                "input": {"where": {"name": {"in": wanted}}, "select": ["name", "seq"]}}),
        );
        let got: HashMap<&str, &Value> = found
            .data()
            .iter()
            .map(|d| (d["name"].as_str().unwrap_or_default(), &d["seq"]))
            .collect();
        for name in wanted {
            let seq = latest[&(doctype, name)];
            let stored = got.get(name).and_then(|v| v.as_u64());
            // A write can be durable without its ack having been printed: a note may carry
            // the value of an update made after its last acknowledged write, never an older one.
            let fine = match stored {
                Some(stored) if doctype == NOTE => stored >= seq,
                Some(stored) => stored == seq,
                None => false,
            };
            assert!(
                fine,
                "kill {kill}: {doctype} {name} has seq {stored:?}, acknowledged {seq}"
            );
        }
    }
}

/// A top-level run commits with its run record: every document on disk was written by a run
/// whose record is on disk too, completed.
fn check_no_orphan_documents(engine: &Engine, kill: usize) {
    for doctype in [NOTE, ITEM] {
        let all = ok(
            engine,
            json!({"operation": "select", "from": doctype,
                "input": {"select": ["name", "createdByRun", "modifiedByRun"]}}),
        );
        assert!(
            all.output["meta"]["truncated"].is_null(),
            "raise the check's limit"
        );
        for doc in all.data() {
            for key in ["createdByRun", "modifiedByRun"] {
                let id = doc[key].as_str().unwrap_or_default();
                let run = engine.get_run(id).unwrap();
                assert!(
                    run.as_ref().is_some_and(|r| r.success),
                    "kill {kill}: {doctype} {} has {key} {id} without a completed run record",
                    doc["name"]
                );
            }
        }
    }
}

/// A writer killed while it creates a new store leaves either no store or a whole one: the
/// next open always succeeds (redb writes a new file's header in steps; the engine builds the
/// file under a temporary name and links it into place only when it is whole).
#[test]
fn a_writer_killed_while_creating_the_store_leaves_it_openable() {
    const ROUNDS: usize = 12;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut rng = XorShift::seeded("a_writer_killed_while_creating_the_store_leaves_it_openable");
    // Rounds whose kill landed before the store was in place: the ones this test is for.
    let mut killed_mid_creation = 0;
    for round in 0..ROUNDS {
        let round_dir = dir.path().join(format!("round-{round}"));
        std::fs::create_dir(&round_dir).unwrap();
        let path = round_dir.join("new.redb");
        let (mut child, _lines) = spawn_writer(&path, round);
        // Kill as soon as the creation has begun (a file appears), or up to 3 ms later.
        let started = Instant::now();
        while std::fs::read_dir(&round_dir).unwrap().next().is_none()
            && started.elapsed() < Duration::from_secs(20)
        {
            std::hint::spin_loop();
        }
        assert!(
            std::fs::read_dir(&round_dir).unwrap().next().is_some(),
            "round {round}: the writer never began creating its store"
        );
        std::thread::sleep(Duration::from_micros(rng.between(0, 3000)));
        child.0.kill().expect("SIGKILL the writer");
        let _ = child.0.wait();
        if !path.exists() {
            killed_mid_creation += 1;
        }
        let engine = Engine::open(&path)
            .unwrap_or_else(|e| panic!("round {round}: the store does not open: {e}"));
        ok(
            &engine,
            json!({"operation": "create", "into": NOTE, "input": {"data": {"name": "after"}}}),
        );
    }
    assert!(
        killed_mid_creation > 0,
        "no kill landed before the store was in place: the test proved nothing"
    );
}
