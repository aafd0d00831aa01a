//! `reawaken-llm check-settings`, what `reawaken sweep plan` asks of the LLM executable:
//! each table checked by `ProbeConfig` exactly as `llm probe --config` would.

use std::io::Write;
use std::process::{Command, Stdio};

fn check(input: &str) -> (bool, serde_json::Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reawaken-llm"))
        .arg("check-settings")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        value,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_table_is_resolved_or_refused_by_name() {
    let (ok, answers, err) =
        check(r#"[{"tasks": 4, "steps": 2}, {"taks": 4}, {"tasks": 0}, {"optimizer": "rmsprop"}]"#);
    assert!(ok, "{err}");
    let a = answers.as_array().unwrap();
    assert_eq!(a.len(), 4);
    // Resolved: the given values and every default, as run.json will hold them.
    let resolved = &a[0]["ok"];
    assert_eq!(resolved["tasks"], 4);
    assert_eq!(resolved["steps"], 2);
    assert_eq!(resolved["context"], 64, "{resolved}");
    // Refused, each naming what is wrong.
    for (answer, word) in a[1..].iter().zip(["taks", "tasks", "rmsprop"]) {
        let why = answer["error"].as_str().unwrap_or_default();
        assert!(why.contains(word), "{answer} should name {word}");
        assert!(answer.get("ok").is_none());
    }
}

#[test]
fn unreadable_input_is_an_error_not_an_answer() {
    let (ok, answers, err) = check("not json");
    assert!(!ok);
    assert!(answers.is_null());
    assert!(err.starts_with("error:"), "{err}");
}
