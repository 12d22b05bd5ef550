//! JSON workload files: a scenario's parameters kept in a file so a standard run can be
//! repeated exactly. The file is a JSON object with the same keys as the scenario's
//! flags (snake_case, e.g. `{"rooms": 100, "members": 10, "rate": 5}`), optionally with
//! `"scenario": "fanout"` as a guard against running it with the wrong subcommand. Keys in
//! the file replace the flag values; keys it leaves out keep them; unknown keys are errors
//! (a typo must not silently run the default).

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::LoadError;

/// Applies the workload file at `path` (if any) over the flag values.
pub fn load<T: Serialize + DeserializeOwned>(
    flags: &T,
    path: Option<&Path>,
    scenario: &str,
) -> Result<T, LoadError> {
    let Some(path) = path else {
        return serde_json::from_value(to_value(flags)?)
            .map_err(|e| LoadError::Config(e.to_string()));
    };
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Workload {
        path: label.clone(),
        reason: e.to_string(),
    })?;
    merge(flags, &text, scenario).map_err(|reason| LoadError::Workload {
        path: label,
        reason,
    })
}

fn to_value<T: Serialize>(flags: &T) -> Result<serde_json::Value, LoadError> {
    serde_json::to_value(flags).map_err(|e| LoadError::Config(e.to_string()))
}

/// Overlays the workload text on the flag values; the error is a reason for the user.
pub fn merge<T: Serialize + DeserializeOwned>(
    flags: &T,
    text: &str,
    scenario: &str,
) -> Result<T, String> {
    let file: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(mut file) = file else {
        return Err("a workload file is a JSON object".into());
    };
    if let Some(named) = file.remove("scenario") {
        if named.as_str() != Some(scenario) {
            return Err(format!("it is for scenario {named}, not {scenario:?}"));
        }
    }
    let mut merged = serde_json::to_value(flags).map_err(|e| e.to_string())?;
    if let serde_json::Value::Object(target) = &mut merged {
        target.extend(file);
    }
    serde_json::from_value(merged).map_err(|e| e.to_string())
}

/// Seconds from a flag or file to a `Duration`, refusing negative, NaN and absurd values
/// (which `Duration::from_secs_f64` would panic on).
pub fn seconds(name: &str, value: f64) -> Result<Duration, LoadError> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| LoadError::Config(format!("{name} must be a non-negative number of seconds")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        rooms: usize,
        rate: f64,
    }

    const FLAGS: Cfg = Cfg {
        rooms: 10,
        rate: 5.0,
    };

    #[test]
    fn file_keys_replace_flags_and_missing_keys_keep_them() {
        let c: Cfg = merge(&FLAGS, r#"{"scenario":"fanout","rooms":100}"#, "fanout").unwrap();
        assert_eq!(
            c,
            Cfg {
                rooms: 100,
                rate: 5.0
            }
        );
        let c: Cfg = merge(&FLAGS, r#"{}"#, "fanout").unwrap();
        assert_eq!(c, FLAGS);
    }

    #[test]
    fn refuses_typos_wrong_scenario_and_wrong_types() {
        assert!(merge::<Cfg>(&FLAGS, r#"{"romos":1}"#, "fanout")
            .unwrap_err()
            .contains("romos"));
        assert!(merge::<Cfg>(&FLAGS, r#"{"scenario":"burst"}"#, "fanout").is_err());
        assert!(merge::<Cfg>(&FLAGS, r#"{"rooms":"many"}"#, "fanout").is_err());
        assert!(merge::<Cfg>(&FLAGS, r#"[1]"#, "fanout").is_err());
        assert!(merge::<Cfg>(&FLAGS, r#"{"rooms":"#, "fanout").is_err());
    }

    #[test]
    fn loads_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.json");
        std::fs::write(&path, r#"{"rate": 50}"#).unwrap();
        let c: Cfg = load(&FLAGS, Some(&path), "fanout").unwrap();
        assert_eq!(c.rate, 50.0);
        assert!(load::<Cfg>(&FLAGS, Some(&dir.path().join("nope.json")), "fanout").is_err());
        assert_eq!(load(&FLAGS, None, "fanout").unwrap(), FLAGS);
    }

    #[test]
    fn seconds_refuses_negative_and_nan() {
        assert_eq!(seconds("d", 1.5).unwrap(), Duration::from_millis(1500));
        assert!(seconds("d", -1.0).is_err());
        assert!(seconds("d", f64::NAN).is_err());
    }
}
