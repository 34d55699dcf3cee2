//! Log set-up: the v0.6 level spec (`level[:module1,module2=level[:...]]`)
//! translated to a `tracing_subscriber` `EnvFilter`, the choice between
//! `--logging-level`, `RUST_LOG` and the config, and text or JSON output on
//! stderr.
//!
//! v0.6 module names are mapped to our tracing targets (`consensus` →
//! `fabrik_core::pbft`, `fabrik_core::noops`, ...); any other module name is
//! used as a target as it is (e.g. `fabrik_io::store`).

use crate::cli::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// A level spec that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid logging level spec `{spec}` ({source_name}): {problem}; expected level[:module1,module2=level[:...]] \
     with levels critical, error, warning, notice, info, debug, trace"
)]
pub struct LogSpecError {
    /// The spec as given.
    pub spec: String,
    /// Where it came from (`--logging-level`, `RUST_LOG`, `logging.node`).
    pub source_name: String,
    /// What is wrong.
    pub problem: String,
}

/// v0.6 logger names and the tracing targets they stand for.
const MODULE_ALIASES: &[(&str, &[&str])] = &[
    (
        "consensus",
        &[
            "fabrik_core::pbft",
            "fabrik_core::noops",
            "fabrik_io::consensus",
        ],
    ),
    ("pbft", &["fabrik_core::pbft"]),
    ("noops", &["fabrik_core::noops"]),
    (
        "chaincode",
        &["fabrik_core::chaincode", "fabrik_io::chaincode"],
    ),
    ("peer", &["fabrik_core::peer", "fabrik_io::net"]),
    ("ledger", &["fabrik_core::ledger", "fabrik_io::store"]),
    ("statetransfer", &["fabrik_core::statetransfer"]),
    ("rest", &["fabrik_io::rest"]),
    ("events", &["fabrik_io::events"]),
    ("eventhub_producer", &["fabrik_io::events"]),
    ("node", &["peerd", "fabrik_io::node"]),
];

/// Maps a v0.6 level name to a tracing level name.
fn level(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "critical" | "error" => "error",
        "warning" | "warn" => "warn",
        "notice" | "info" => "info",
        "debug" => "debug",
        "trace" => "trace",
        _ => return None,
    })
}

/// Translates a v0.6 spec into `EnvFilter` directives, e.g.
/// `warning:chaincode=debug` → `warn,fabrik_core::chaincode=debug,fabrik_io::chaincode=debug`.
///
/// # Errors
/// When a level or module name is not valid; `source_name` names the origin.
pub fn spec_to_directives(spec: &str, source_name: &str) -> Result<String, LogSpecError> {
    let fail = |problem: String| LogSpecError {
        spec: spec.to_string(),
        source_name: source_name.to_string(),
        problem,
    };
    let mut directives = Vec::new();
    for (i, part) in segments(spec).into_iter().enumerate() {
        let part = part.trim();
        match part.split_once('=') {
            None if i == 0 => {
                directives.push(
                    level(part)
                        .ok_or_else(|| fail(format!("`{part}` is not a level")))?
                        .to_string(),
                );
            }
            None => {
                return Err(fail(format!(
                    "`{part}` needs the form module1,module2=level"
                )));
            }
            Some((modules, lvl)) => {
                let lvl =
                    level(lvl).ok_or_else(|| fail(format!("`{}` is not a level", lvl.trim())))?;
                for module in modules.split(',').map(str::trim) {
                    for target in targets(module).map_err(&fail)? {
                        directives.push(format!("{target}={lvl}"));
                    }
                }
            }
        }
    }
    Ok(directives.join(","))
}

/// Splits a spec at single `:` (a `::` belongs to a Rust module path).
fn segments(spec: &str) -> Vec<&str> {
    let bytes = spec.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let double = i.checked_sub(1).and_then(|p| bytes.get(p)) == Some(&b':')
            || bytes.get(i + 1) == Some(&b':');
        if b == b':' && !double {
            parts.push(spec.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    parts.push(spec.get(start..).unwrap_or_default());
    parts
}

/// The tracing targets for one module name.
fn targets(module: &str) -> Result<Vec<String>, String> {
    if let Some((_, targets)) = MODULE_ALIASES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(module))
    {
        return Ok(targets.iter().map(|t| (*t).to_string()).collect());
    }
    let valid = !module.is_empty()
        && module
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '-');
    if valid {
        Ok(vec![module.to_string()])
    } else {
        Err(format!("`{module}` is not a module name"))
    }
}

/// Chooses the filter: `--logging-level` (v0.6 spec), else `RUST_LOG`
/// (EnvFilter syntax), else `config_spec` (v0.6 spec from the config).
///
/// # Errors
/// When the chosen spec cannot be read.
pub fn choose_filter(
    flag: Option<&str>,
    rust_log: Option<&str>,
    config_spec: (&str, &str),
) -> Result<EnvFilter, LogSpecError> {
    let directives = match (flag, rust_log.filter(|s| !s.trim().is_empty())) {
        (Some(spec), _) => spec_to_directives(spec, "--logging-level")?,
        (None, Some(env)) => env.to_string(),
        (None, None) => spec_to_directives(config_spec.0, config_spec.1)?,
    };
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| LogSpecError {
            spec: directives.clone(),
            source_name: if flag.is_none() && rust_log.is_some() {
                "RUST_LOG".into()
            } else {
                "--logging-level".into()
            },
            problem: e.to_string(),
        })
}

/// Installs the global subscriber (stderr, text or JSON).
pub fn install(filter: EnvFilter, format: LogFormat) {
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // A subscriber may already be set (tests); keeping the first is fine.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directives(spec: &str) -> String {
        spec_to_directives(spec, "test").expect(spec)
    }

    #[test]
    fn single_levels_map_to_tracing_levels() {
        assert_eq!(directives("debug"), "debug");
        assert_eq!(directives("WARNING"), "warn");
        assert_eq!(directives("critical"), "error");
        assert_eq!(directives("notice"), "info");
    }

    #[test]
    fn module_levels_follow_the_default() {
        assert_eq!(
            directives("warning:fabrik_io::store=debug"),
            "warn,fabrik_io::store=debug"
        );
        assert_eq!(
            directives("info:chaincode,pbft=debug:rest=error"),
            "info,fabrik_core::chaincode=debug,fabrik_io::chaincode=debug,fabrik_core::pbft=debug,fabrik_io::rest=error"
        );
    }

    #[test]
    fn rust_paths_keep_their_double_colons() {
        assert_eq!(
            segments("info:fabrik_io::store=debug:rest=warn"),
            ["info", "fabrik_io::store=debug", "rest=warn"]
        );
        assert_eq!(
            directives("debug:fabrik_core::pbft=trace"),
            "debug,fabrik_core::pbft=trace"
        );
    }

    #[test]
    fn modules_without_default_level_are_allowed() {
        assert_eq!(directives("peerd=trace"), "peerd=trace");
    }

    #[test]
    fn bad_specs_name_the_problem() {
        let err = spec_to_directives("loud", "--logging-level").expect_err("bad level");
        assert_eq!(err.problem, "`loud` is not a level");
        assert!(err.to_string().starts_with(
            "invalid logging level spec `loud` (--logging-level): `loud` is not a level;"
        ));
        assert!(spec_to_directives("info:chaincode", "x").is_err());
        assert!(spec_to_directives("info:chaincode=loud", "x").is_err());
        assert!(spec_to_directives("info:a b=debug", "x").is_err());
        assert!(spec_to_directives("info:=debug", "x").is_err());
    }

    #[test]
    fn precedence_flag_then_rust_log_then_config() {
        let from_flag =
            choose_filter(Some("debug"), Some("error"), ("info", "logging.node")).expect("flag");
        assert_eq!(from_flag.to_string(), "debug");
        let from_env =
            choose_filter(None, Some("error,h2=off"), ("info", "logging.node")).expect("env");
        assert!(from_env.to_string().contains("h2=off"), "{from_env}");
        let from_config =
            choose_filter(None, Some("  "), ("warning", "logging.node")).expect("config");
        assert_eq!(from_config.to_string(), "warn");
        assert!(choose_filter(None, None, ("shout", "logging.node")).is_err());
    }
}
