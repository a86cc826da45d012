//! The README's promise: its first two commands run the demo and the tests.

use std::process::Command;

/// The commands of the README's first code block.
fn first_commands() -> Vec<String> {
    let readme = include_str!("../README.md");
    let block = readme
        .split("```")
        .nth(1)
        .expect("the README opens with a code block");
    block
        .lines()
        .skip(1)
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_readme_opens_with_the_demo_and_the_test_command() {
    assert_eq!(
        first_commands(),
        ["cargo run --release -- demo", "cargo test"]
    );
    let ci = include_str!("../.ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test"),
        ".ci/run runs the README's test command"
    );
}

#[test]
fn the_demo_command_works_on_a_fresh_machine() {
    // `cargo run --release -- demo` runs this binary's `demo` (built here in the test profile).
    let cwd = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_coworker"))
        .arg("demo")
        .env_remove("COWORKER_DB")
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "create",
        "select",
        "update",
        "delete",
        "VALIDATION_FAILED",
        "runs recorded",
    ] {
        assert!(stdout.contains(step), "the demo shows `{step}`:\n{stdout}");
    }
    assert!(
        !stdout.lines().any(|l| l.trim_start().starts_with("FAIL ")),
        "every run of the workflow's tree succeeds:\n{stdout}"
    );
    assert!(
        std::fs::read_dir(cwd.path()).unwrap().next().is_none(),
        "the demo leaves nothing behind in the working directory"
    );
}
