//! Rate limits per owner: off by default, `LIMIT_EXCEEDED` once spent.

use super::*;

#[test]
fn rate_limits_per_owner_are_off_by_default_and_give_limit_exceeded() {
    let engine = setup();
    let select = |owner: &str, agent: &str| {
        engine.run_value(
            json!({"operation": "select", "from": "Invoice", "owner": owner, "agent": agent}),
        )
    };
    for _ in 0..30 {
        assert!(select("clerk", "planner-1").success, "no limit by default");
    }
    engine.set_rate_limit(ADMIN, Some((2.0, 3.0))).unwrap();
    for i in 0..3 {
        let run = select("clerk", &format!("agent-{i}"));
        assert!(run.success, "run {i} of the burst: {:?}", run.error);
    }
    // The burst is spent, whichever agent asks for the clerk.
    for agent in ["agent-0", "agent-9"] {
        let run = select("clerk", agent);
        assert_eq!(code(&run), "LIMIT_EXCEEDED", "{:?}", run.error);
        assert!(message(&run).contains("clerk"), "{}", message(&run));
    }
    let denied_write = engine.run_value(json!({"operation": "create", "into": "Invoice",
        "owner": "clerk", "input": {"data": {"name": "limited"}}}));
    assert_eq!(code(&denied_write), "LIMIT_EXCEEDED");
    assert!(doc(&engine, "Invoice", "limited").is_none());
    // Another owner has a bucket of its own; a workflow counts once, its steps not at all.
    let workflow = engine.run_value(json!({"operation": "workflow", "owner": "manager",
        "input": {"children": [
            {"id": "a", "operation": "select", "from": "Invoice"},
            {"id": "b", "operation": "select", "from": "Invoice"},
            {"id": "c", "operation": "select", "from": "Invoice"},
            {"id": "d", "operation": "select", "from": "Invoice"},
            {"id": "e", "operation": "select", "from": "Invoice"}]}}));
    assert!(workflow.success, "{:?}", workflow.error);
    for _ in 0..2 {
        assert!(select("manager", "m").success);
    }
    assert_eq!(code(&select("manager", "m")), "LIMIT_EXCEEDED");
    // Tokens come back at the configured rate (2 a second): poll until one is back, with a
    // bound far above half a second, then the next run finds the bucket empty again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut waits = 0;
    loop {
        let run = select("clerk", "planner-1");
        if run.success {
            break;
        }
        assert_eq!(code(&run), "LIMIT_EXCEEDED", "{:?}", run.error);
        assert!(
            std::time::Instant::now() < deadline,
            "no token came back within 10 s at 2 a second ({waits} polls)"
        );
        waits += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(code(&select("clerk", "planner-1")), "LIMIT_EXCEEDED");
    // Lifting the limit (the superuser's own burst is enough for it).
    engine.set_rate_limit(ADMIN, None).unwrap();
    for _ in 0..10 {
        assert!(select("clerk", "planner-1").success);
    }
}
