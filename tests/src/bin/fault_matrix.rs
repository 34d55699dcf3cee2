//! `fault-matrix`: runs the Docker fault matrix (see `fabrik_tests::faults`)
//! and prints one table row per case. Needs a Docker engine and static
//! builds of `peerd` and example02; `tests/fault-matrix.sh` makes those and
//! runs this.
//!
//! Usage: `fault-matrix [--validators 4,7] [--only SUBSTRING] [--list]
//! --peerd PATH --example02 PATH`

use fabrik_tests::faults::cluster::Binaries;
use fabrik_tests::faults::run::{Outcome, run_case};
use fabrik_tests::faults::{Case, matrix};
use std::path::PathBuf;
use std::process::ExitCode;

struct Args {
    validators: Vec<usize>,
    only: Option<String>,
    list: bool,
    peerd: PathBuf,
    example02: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        validators: vec![4, 7],
        only: None,
        list: false,
        peerd: PathBuf::new(),
        example02: PathBuf::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--validators" => {
                args.validators = value()?
                    .split(',')
                    .map(|v| {
                        v.parse()
                            .map_err(|_| format!("--validators: bad number {v:?}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--only" => args.only = Some(value()?),
            "--list" => args.list = true,
            "--peerd" => args.peerd = value()?.into(),
            "--example02" => args.example02 = value()?.into(),
            other => {
                return Err(format!(
                    "unknown argument {other}; see the usage in the module doc"
                ));
            }
        }
    }
    if !args.list && (args.peerd.as_os_str().is_empty() || args.example02.as_os_str().is_empty()) {
        return Err("--peerd and --example02 (static binaries) are required".into());
    }
    Ok(args)
}

fn row(o: &Outcome) -> String {
    format!(
        "| {:<26} | {:<24} | {:>5} | {:>6} | {:>6} | {:>4} | {:<4} | {} |",
        o.case.name(),
        o.case.fault.to_string(),
        if o.case.must_halt() { "halt" } else { "go" },
        o.during,
        o.acknowledged,
        o.seconds,
        if o.passed { "ok" } else { "FAIL" },
        o.detail.lines().next().unwrap_or_default()
    )
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fault-matrix: {e}");
            return ExitCode::from(2);
        }
    };
    let cases: Vec<Case> = args
        .validators
        .iter()
        .flat_map(|&n| matrix(n))
        .filter(|c| {
            args.only
                .as_ref()
                .is_none_or(|s| c.name().contains(s.as_str()))
        })
        .collect();
    if args.list {
        for c in &cases {
            println!("{}", c.name());
        }
        return ExitCode::SUCCESS;
    }
    let binaries = Binaries {
        peerd: &args.peerd,
        example02: &args.example02,
    };
    let header = "| case                       | fault                    | want  | during |  acked | secs | ok   | detail |";
    let mut rows = Vec::new();
    let mut failed = 0;
    for (k, case) in cases.iter().enumerate() {
        eprintln!("[{}/{}] {} ...", k + 1, cases.len(), case.name());
        let outcome = run_case(*case, &binaries);
        if !outcome.passed {
            failed += 1;
            eprintln!("{} FAILED:\n{}", case.name(), outcome.detail);
        }
        eprintln!("{header}\n{}", row(&outcome));
        rows.push(row(&outcome));
    }
    println!("{header}\n|{}|", "-".repeat(header.len() - 2));
    for r in &rows {
        println!("{r}");
    }
    println!(
        "{} cases, {} passed, {failed} failed",
        rows.len(),
        rows.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
