//! Start-up options as v0.6 `shim.Start` reads them: the peer address from
//! `-peer.address=<addr>` (or `--peer.address`, `=` or a separate value),
//! else `CORE_PEER_ADDRESS`; the name from `CORE_CHAINCODE_ID_NAME`.

use crate::error::ShimError;

/// Where to connect and under which name to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `host:port` (or a full `http://` URI) of the peer.
    pub peer_address: String,
    /// The chaincode name to register.
    pub name: String,
}

/// The value of the `peer.address` flag in `args` (program name excluded).
fn flag_address(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(rest) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        if let Some(value) = rest.strip_prefix("peer.address=") {
            return Some(value.to_owned());
        }
        if rest == "peer.address" {
            return it.next().cloned();
        }
    }
    None
}

impl Options {
    /// Reads the options from command-line `args` (without the program
    /// name) and the environment lookup `env`.
    ///
    /// # Errors
    /// [`ShimError::NoPeerAddress`], [`ShimError::NoName`] or
    /// [`ShimError::TlsUnsupported`].
    pub fn from_sources(
        args: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ShimError> {
        let peer_address = flag_address(args)
            .or_else(|| env("CORE_PEER_ADDRESS"))
            .filter(|a| !a.trim().is_empty())
            .ok_or(ShimError::NoPeerAddress)?;
        let name = env("CORE_CHAINCODE_ID_NAME")
            .filter(|n| !n.is_empty())
            .ok_or(ShimError::NoName)?;
        if env("CORE_PEER_TLS_ENABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(ShimError::TlsUnsupported);
        }
        Ok(Self {
            peer_address: peer_address.trim().to_owned(),
            name,
        })
    }

    /// Reads the options from this process's arguments and environment.
    ///
    /// # Errors
    /// As [`Options::from_sources`].
    pub fn from_process() -> Result<Self, ShimError> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Self::from_sources(&args, |k| std::env::var(k).ok())
    }

    /// The URI to dial: `http://<addr>` unless a scheme is given.
    pub fn uri(&self) -> String {
        if self.peer_address.starts_with("http://") || self.peer_address.starts_with("https://") {
            self.peer_address.clone()
        } else {
            format!("http://{}", self.peer_address)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn opts(args: &[&str], env: &[(&str, &str)]) -> Result<Options, ShimError> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Options::from_sources(&args, |k| env.get(k).cloned())
    }

    #[test]
    fn flag_forms_and_precedence_over_env() {
        let env = [
            ("CORE_CHAINCODE_ID_NAME", "cc"),
            ("CORE_PEER_ADDRESS", "env:1"),
        ];
        for args in [
            &["-peer.address=p:7051"][..],
            &["--peer.address=p:7051"],
            &["-peer.address", "p:7051"],
        ] {
            let o = opts(args, &env).expect("options");
            assert_eq!(
                o,
                Options {
                    peer_address: "p:7051".into(),
                    name: "cc".into()
                }
            );
            assert_eq!(o.uri(), "http://p:7051");
        }
        assert_eq!(opts(&[], &env).expect("options").peer_address, "env:1");
    }

    #[test]
    fn missing_values_fail_clearly() {
        let e = opts(&[], &[("CORE_CHAINCODE_ID_NAME", "cc")]).expect_err("no address");
        assert_eq!(
            e.to_string(),
            "peer address not set: pass -peer.address=<host:port> or set CORE_PEER_ADDRESS"
        );
        let e =
            opts(&["-peer.address=a:1"], &[("CORE_CHAINCODE_ID_NAME", "")]).expect_err("no name");
        assert_eq!(
            e.to_string(),
            "chaincode name not set: CORE_CHAINCODE_ID_NAME must be non-empty"
        );
        let env = [
            ("CORE_CHAINCODE_ID_NAME", "cc"),
            ("CORE_PEER_TLS_ENABLED", "true"),
        ];
        assert!(matches!(
            opts(&["-peer.address=a:1"], &env),
            Err(ShimError::TlsUnsupported)
        ));
    }
}
