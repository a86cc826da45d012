//! Story: a host shares one `Engine` between threads; concurrent runs lose no write, get
//! unique ids and names, see consistent snapshots, and a failing run never takes a
//! neighbour's writes with it (even when they share a group commit).

use crate::harness::*;
use coworker::{Engine, Error, ErrorCode, Run, RunQuery, RunRequest};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

const THREADS: usize = 8;
const PER_THREAD: usize = 50;

/// Run `work(thread index)` on `THREADS` threads at once and collect what each returns.
fn on_threads<T: Send + 'static>(
    engine: &Engine,
    work: impl Fn(&Engine, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let work = Arc::new(work);
    let barrier = Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let engine = engine.clone();
            let work = work.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                work(&engine, t)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("a worker thread panicked"))
        .collect()
}

fn create(engine: &Engine, doctype: &str, data: Value) -> Run {
    engine.run(
        RunRequest::new("create")
            .into_doctype(doctype)
            .input(json!({ "data": data })),
    )
}

/// Check that every run succeeded and that ids and generated names are all distinct.
fn check_creates(engine: &Engine, doctype: &str, runs: &[Run]) {
    let mut ids = HashSet::new();
    let mut made = HashSet::new();
    for run in runs {
        assert!(run.success, "{:?}", run.error);
        assert!(ids.insert(run.id.clone()), "run id {} given twice", run.id);
        for name in names(run) {
            assert!(made.insert(name.clone()), "name {name} given twice");
        }
        assert!(
            engine.get_run(&run.id).unwrap().is_some(),
            "run {} recorded",
            run.id
        );
    }
    assert_eq!(count(engine, doctype), made.len(), "no lost write");
}

#[test]
fn creates_from_eight_threads_lose_nothing_and_ids_and_names_are_unique() {
    let engine = engine();
    let runs: Vec<Run> = on_threads(&engine, |engine, t| {
        (0..PER_THREAD)
            .map(|i| create(engine, "ToDo", json!({"thread": t, "i": i})))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(runs.len(), THREADS * PER_THREAD);
    check_creates(&engine, "ToDo", &runs);
    assert_eq!(count(&engine, "ToDo"), THREADS * PER_THREAD);
    // Every (thread, i) pair is there exactly once.
    let docs = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    let pairs: HashSet<(u64, u64)> = docs
        .data()
        .iter()
        .map(|d| (d["thread"].as_u64().unwrap(), d["i"].as_u64().unwrap()))
        .collect();
    assert_eq!(pairs.len(), THREADS * PER_THREAD);
    // Each thread's runs got increasing ids (ids sort by start time).
    for chunk in runs.chunks(PER_THREAD) {
        assert!(chunk.windows(2).all(|w| w[0].id < w[1].id));
    }
    let listed = engine.list_runs(&RunQuery::default()).unwrap();
    let listed: HashSet<String> = listed.into_iter().map(|r| r.id).collect();
    assert!(runs.iter().all(|r| listed.contains(&r.id)));
}

#[test]
fn concurrent_creates_on_a_file_store_are_all_durable() {
    let store = TempStore::new();
    let runs: Vec<Run> = {
        let engine = store.open();
        let runs: Vec<Run> = on_threads(&engine, |engine, t| {
            (0..25)
                .map(|i| {
                    create(
                        engine,
                        "ToDo",
                        json!([{"t": t, "i": i}, {"t": t, "i": i, "second": true}]),
                    )
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        check_creates(&engine, "ToDo", &runs);
        runs
    };
    let engine = store.open();
    assert_eq!(count(&engine, "ToDo"), THREADS * 25 * 2);
    for run in &runs {
        let stored = engine.get_run(&run.id).unwrap().expect("recorded");
        assert!(stored.success);
    }
}

#[test]
fn mixed_readers_and_writers_run_side_by_side() {
    let engine = engine();
    let writers_left = Arc::new(AtomicUsize::new(THREADS / 2));
    let left = writers_left.clone();
    let results: Vec<Vec<(usize, String)>> = on_threads(&engine, move |engine, t| {
        if t % 2 == 0 {
            for i in 0..PER_THREAD {
                let run = create(
                    engine,
                    "Pair",
                    json!([{"writer": t, "i": i, "half": 0}, {"writer": t, "i": i, "half": 1}]),
                );
                assert!(run.success, "{:?}", run.error);
            }
            left.fetch_sub(1, Ordering::SeqCst);
            Vec::new()
        } else {
            let mut seen = Vec::new();
            loop {
                let finished = left.load(Ordering::SeqCst) == 0;
                let run = engine.run(
                    RunRequest::new("select")
                        .from("Pair")
                        .input(json!({"where": {"half": {"in": [0, 1]}}})),
                );
                assert!(run.success, "{:?}", run.error);
                let n = run.data().len();
                assert_eq!(n % 2, 0, "both documents of one run are seen together");
                seen.push((n, run.id));
                if finished {
                    break;
                }
            }
            seen
        }
    });
    let total = (THREADS / 2) * PER_THREAD * 2;
    for reads in results.iter().filter(|s| !s.is_empty()) {
        let seen: Vec<usize> = reads.iter().map(|(n, _)| *n).collect();
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "a reader never goes back in time: {seen:?}"
        );
        assert_eq!(
            *seen.last().unwrap(),
            total,
            "the last read sees every write"
        );
        // Every read is recorded, with the names it returned.
        for (n, id) in reads {
            let record = engine.get_run(id).unwrap().expect("a read is recorded");
            assert_eq!(record.output["names"].as_array().unwrap().len(), *n);
        }
    }
    assert_eq!(count(&engine, "Pair"), total);
}

#[test]
fn a_reader_can_always_read_back_its_own_run_while_others_write() {
    let engine = engine();
    let writers_left = Arc::new(AtomicUsize::new(THREADS / 2));
    let left = writers_left.clone();
    // Writers start once every reader has read once, so the reads overlap the writes.
    let readers_started = Arc::new(AtomicUsize::new(0));
    let started = readers_started.clone();
    let results: Vec<(Vec<String>, Vec<String>)> = on_threads(&engine, move |engine, t| {
        let mut missing = Vec::new();
        let mut mine = Vec::new();
        if t % 2 == 0 {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while started.load(Ordering::SeqCst) < THREADS / 2 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the readers never started"
                );
                thread::yield_now();
            }
            for i in 0..PER_THREAD {
                assert!(create(engine, "ToDo", json!({"i": i})).success);
            }
            left.fetch_sub(1, Ordering::SeqCst);
        } else {
            let flow = format!("reader-{t}");
            loop {
                let run = engine.run(
                    RunRequest::new("select")
                        .from("ToDo")
                        .input(json!({"take": 1}))
                        .flow("test", flow.clone()),
                );
                assert!(run.success);
                mine.push(run.id.clone());
                if engine.get_run(&run.id).unwrap().is_none() {
                    missing.push(format!("get_run: {}", run.id));
                }
                let listed = engine
                    .list_runs(&RunQuery {
                        flow_id: Some(flow.clone()),
                        ..Default::default()
                    })
                    .unwrap();
                let listed: Vec<String> = listed.into_iter().map(|r| r.id).collect();
                if listed != mine {
                    missing.push(format!(
                        "list_runs: {} listed of {} run",
                        listed.len(),
                        mine.len()
                    ));
                }
                if mine.len() == 1 {
                    started.fetch_add(1, Ordering::SeqCst);
                }
                if left.load(Ordering::SeqCst) == 0 {
                    break;
                }
            }
        }
        (missing, mine)
    });
    // Once the writers are done, every record is there: the records are not lost, only
    // invisible for a while.
    let mut all_mine = Vec::new();
    for (t, (_, mine)) in results.iter().enumerate() {
        if t % 2 == 1 {
            assert!(
                !mine.is_empty(),
                "reader {t} read back its run at least once"
            );
        }
        for id in mine {
            assert!(engine.get_run(id).unwrap().is_some(), "run {id} recorded");
        }
        all_mine.extend(mine.iter().cloned());
    }
    let missing: Vec<String> = results.into_iter().flat_map(|(m, _)| m).collect();
    assert!(
        missing.is_empty(),
        "{} times (of {} runs) a select run was not found right after it returned, e.g. {:?}",
        missing.len(),
        all_mine.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn concurrent_updates_of_one_document_all_succeed_and_one_wins() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Counter", "owner": "root",
               "input": {"data": {"name": "c", "value": -1, "kept": "yes"}}}),
    );
    let created = ok(&engine, json!({"operation": "select", "from": "Counter"})).data()[0].clone();
    let runs: Vec<Run> = on_threads(&engine, |engine, t| {
        (0..10)
            .map(|i| {
                engine.run(
                    RunRequest::new("update")
                        .in_doctype("Counter")
                        .owner(format!("user-{t}"))
                        .input(json!({"name": "c", "data": {"value": t * 100 + i, "by": t}})),
                )
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(runs.len(), THREADS * 10);
    for run in &runs {
        assert!(run.success, "{:?}", run.error);
        assert_eq!(run.data().len(), 1);
    }
    let doc = ok(&engine, json!({"operation": "select", "from": "Counter"})).data()[0].clone();
    assert_eq!(count(&engine, "Counter"), 1);
    // The final document is exactly what one of the updates returned: no torn mix.
    let winner = runs
        .iter()
        .find(|r| json!(r.id) == doc["modifiedByRun"])
        .expect("the last writer is one of the updates");
    assert_eq!(winner.data()[0], doc);
    assert_eq!(
        doc["by"],
        json!(
            winner.owner.as_deref().unwrap()[5..]
                .parse::<u64>()
                .unwrap()
        )
    );
    assert_eq!(doc["modifiedBy"], json!(winner.owner));
    for field in ["creation", "owner", "createdByRun", "kept"] {
        assert_eq!(doc[field], created[field], "{field} untouched");
    }
    // And it is the latest: updates are serialized, so the winner is the last to run.
    let latest = runs
        .iter()
        .map(|r| &r.data()[0]["modified"])
        .max_by(|a, b| a.as_str().unwrap().cmp(b.as_str().unwrap()));
    assert_eq!(latest, Some(&doc["modified"]));
}

#[test]
fn only_one_of_many_concurrent_creates_of_one_name_wins() {
    let engine = engine();
    let runs: Vec<Run> = on_threads(&engine, |engine, t| {
        create(engine, "ToDo", json!({"name": "the-one", "by": t}))
    });
    let winners: Vec<&Run> = runs.iter().filter(|r| r.success).collect();
    assert_eq!(winners.len(), 1, "exactly one create of a name succeeds");
    for run in runs.iter().filter(|r| !r.success) {
        assert_eq!(run.error.as_ref().unwrap().code, ErrorCode::Conflict);
    }
    let doc = ok(&engine, json!({"operation": "select", "from": "ToDo"})).data()[0].clone();
    assert_eq!(doc["by"], winners[0].data()[0]["by"]);
    assert_eq!(doc["createdByRun"], json!(winners[0].id));
}

#[test]
fn only_one_of_many_concurrent_deletes_of_one_name_wins() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": [{"name": "x"}, {"name": "y"}]}}),
    );
    let runs: Vec<Run> = on_threads(&engine, |engine, _| {
        engine.run(
            RunRequest::new("delete")
                .from("ToDo")
                .input(json!({"name": "x"})),
        )
    });
    assert_eq!(runs.iter().filter(|r| r.success).count(), 1);
    for run in runs.iter().filter(|r| !r.success) {
        assert_eq!(run.error.as_ref().unwrap().code, ErrorCode::NotFound);
    }
    assert_eq!(
        names(&ok(&engine, json!({"operation": "select", "from": "ToDo"}))),
        ["y"]
    );
}

#[test]
fn failing_and_panicking_runs_never_take_a_neighbours_writes_with_them() {
    let engine = Engine::builder()
        .operation("note", |ctx| {
            let input = ctx.request().input.clone();
            let child = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": [{"tag": input["tag"], "part": 1}, {"tag": input["tag"], "part": 2}]})),
            );
            if !child.success {
                return Err(Error::internal(format!("child failed: {:?}", child.error)));
            }
            match input["mode"].as_str() {
                Some("fail") => Err(Error::bad_request("refused after writing")),
                Some("panic") => panic!("panicked after writing"),
                _ => Ok(json!({"child": child.id})),
            }
        })
        .in_memory()
        .unwrap();
    let runs: Vec<(String, Run)> = on_threads(&engine, |engine, t| {
        (0..30)
            .map(|i| {
                let mode = ["ok", "fail", "ok", "panic"][(t + i) % 4];
                let tag = format!("{t}-{i}");
                let run =
                    engine.run(RunRequest::new("note").input(json!({"mode": mode, "tag": tag})));
                (mode.to_string(), run)
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let mut expected = HashSet::new();
    for (mode, run) in &runs {
        match mode.as_str() {
            "ok" => {
                assert!(run.success, "{:?}", run.error);
                expected.insert(run.input["tag"].as_str().unwrap().to_string());
            }
            "fail" => assert_eq!(run.error.as_ref().unwrap().code, ErrorCode::BadRequest),
            _ => assert_eq!(run.error.as_ref().unwrap().code, ErrorCode::Internal),
        }
        // Both the parent and its child are recorded, whatever happened.
        assert!(engine.get_run(&run.id).unwrap().is_some());
        assert_eq!(run.child_run_ids.len(), 1);
        assert!(
            engine
                .get_run(&run.child_run_ids[0])
                .unwrap()
                .unwrap()
                .success
        );
    }
    let notes = ok(&engine, json!({"operation": "select", "from": "Note"}));
    let mut found = std::collections::HashMap::<String, usize>::new();
    for doc in notes.data() {
        *found
            .entry(doc["tag"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let found_tags: HashSet<String> = found.keys().cloned().collect();
    assert_eq!(
        found_tags, expected,
        "exactly the successful runs' notes remain"
    );
    assert!(
        found.values().all(|&n| n == 2),
        "no run left half its writes"
    );
}
