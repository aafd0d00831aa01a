//! Conditions: the runs of one config apart from the seed (and the other keys that do
//! not define a condition), and how they are named and compared.

use reawaken_analysis::record::RunKind;
use reawaken_analysis::settings::config_diff;
use serde_json::Value;

use crate::input::RunInput;

/// Runs with the same config apart from seed (and other non-condition keys).
#[derive(Debug)]
pub(crate) struct Condition {
    pub kind: RunKind,
    /// The config without the non-condition keys ([`RunInput::condition`]).
    pub key: Value,
    /// At least one run; all of the same shape, each seed once.
    pub runs: Vec<RunInput>,
}

impl Condition {
    pub fn first(&self) -> &RunInput {
        &self.runs[0]
    }

    fn seeds_note(&self) -> String {
        match self.runs.len() {
            1 => format!("seed {}", self.first().seed()),
            n => format!("mean ± 1 sd over {n} seeds"),
        }
    }

    /// The value of a config key of the condition.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.key.get(key)
    }

    /// Short description: the config values a reader needs, the order and the seeds.
    pub fn describe(&self) -> String {
        self.describe_with(true, true)
    }

    /// Short description of a condition: the config values a reader needs, then the
    /// order and the seeds (each optional).
    pub fn describe_with(&self, order: bool, seeds: bool) -> String {
        let mut parts = match self.kind {
            RunKind::Toy => self.toy_parts(),
            RunKind::Llm => self.llm_parts(),
        };
        if order {
            parts.push(self.first().order_name());
        }
        if seeds {
            parts.push(self.seeds_note());
        }
        parts.join(", ")
    }

    fn label_of(&self, key: &str) -> Option<String> {
        self.value(key).map(|v| value_label(Some(v)))
    }

    fn toy_parts(&self) -> Vec<String> {
        let g = |k: &str| self.label_of(k);
        let mut parts = Vec::new();
        if let Some(v) = g("tasks") {
            parts.push(format!("T={v}"));
        }
        match (g("input-dim"), g("embed-dim")) {
            (Some(n), Some(m)) if n == m => parts.push(format!("N=M={n}")),
            (Some(n), Some(m)) => parts.push(format!("N={n}, M={m}")),
            _ => {}
        }
        if let Some(v) = g("lr") {
            parts.push(format!("α={v}"));
        }
        if let Some(v) = g("mapping") {
            parts.push(v);
        }
        parts
    }

    fn llm_parts(&self) -> Vec<String> {
        let g = |k: &str| self.label_of(k);
        let mut parts = Vec::new();
        if let Some(v) = g("preset").or_else(|| g("model")) {
            parts.push(v);
        }
        if let Some(v) = g("tasks") {
            parts.push(format!("T={v}"));
        }
        if let Some(v) = g("steps") {
            parts.push(format!("M={v}"));
        }
        if let Some(v) = g("lr") {
            parts.push(format!("lr={v}"));
        }
        parts
    }
}

/// Title prefix of a kind of run.
pub(crate) fn kind_label(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Toy => "Toy model",
        RunKind::Llm => "LLM",
    }
}

/// The y-axis label of losses.
pub(crate) fn loss_label(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Toy => "loss ½‖Px − f(w)‖²",
        RunKind::Llm => "loss (nats)",
    }
}

/// Config keys in which two conditions differ, the preferred x-axis key of a sweep
/// first ([`key_priority`]), then alphabetically.
pub(crate) fn differing_keys(a: &Value, b: &Value) -> Vec<String> {
    let mut keys = config_diff(a, b);
    keys.sort_by_key(|k| key_priority(k));
    keys
}

/// Preferred x-axis key when several config values vary together.
fn key_priority(k: &str) -> usize {
    const ORDER: &[&str] = &[
        "preset",
        "model",
        "width",
        "depth",
        "heads",
        "tasks",
        "steps",
        "context",
        "epochs",
        "input-dim",
        "embed-dim",
        "intermediate-size",
        "mask-prob",
        "window-shift",
        "freeze-blocks",
        "partial-shuffle",
        "lr",
    ];
    ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len())
}

/// A config value as text (strings without quotes).
pub(crate) fn value_label(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "(unset)".into(),
    }
}

/// Numeric value of a swept config value: numbers, or model sizes like "160m", "1.4b".
pub(crate) fn value_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            let s = s.rsplit('-').next().unwrap_or(&s).to_string();
            let (num, mult) = if let Some(p) = s.strip_suffix('b') {
                (p, 1e9)
            } else if let Some(p) = s.strip_suffix('m') {
                (p, 1e6)
            } else if let Some(p) = s.strip_suffix('k') {
                (p, 1e3)
            } else {
                (s.as_str(), 1.0)
            };
            num.parse::<f64>().ok().map(|x| x * mult)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_sizes_parse_as_numbers() {
        assert_eq!(value_number(Some(&Value::from(64))), Some(64.0));
        assert_eq!(value_number(Some(&Value::from("pythia-160m"))), Some(160e6));
        assert_eq!(value_number(Some(&Value::from("1.4b"))), Some(1.4e9));
        assert_eq!(value_number(Some(&Value::from("adam"))), None);
    }

    #[test]
    fn differing_keys_sorts_by_axis_priority() {
        let a = serde_json::json!({"lr": 0.01, "input-dim": 100.0, "embed-dim": 100.0});
        let mut b = a.clone();
        b["lr"] = Value::from(0.05);
        b["input-dim"] = Value::from(20.0);
        b["embed-dim"] = Value::from(20.0);
        assert_eq!(differing_keys(&a, &b), ["input-dim", "embed-dim", "lr"]);
    }
}
