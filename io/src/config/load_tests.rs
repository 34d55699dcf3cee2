//! Tests of configuration loading: file + environment precedence, the
//! environment-variable naming rule, and the text of every kind of error.

use super::*;
use std::io::Write;
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect::<Vec<_>>()
        .into_iter()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write temp file");
    f
}

fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let f = file(text);
    load(Some(f.path()), env(vars))
}

#[test]
fn no_file_no_env_gives_defaults() {
    assert_eq!(
        load(None, env(&[])).expect("defaults load"),
        Config::default()
    );
}

#[test]
fn file_values_are_read_with_v06_key_names() {
    let config = load_text(
        r#"
[peer]
id = "vp3"
networkId = "testnet"
listenAddress = "0.0.0.0:7051"
address = "10.0.0.3:7051"
fileSystemPath = "/tmp/vp3"
[peer.validator]
enabled = false
[peer.validator.consensus]
plugin = "PBFT"
buffersize = 50
[peer.validator.events]
address = "0.0.0.0:7053"
timeout = -1
[peer.discovery]
rootnode = "10.0.0.1:7051, 10.0.0.2:7051"
period = "10s"
[chaincode]
mode = "net"
startuptimeout = 1000
[noops.block]
size = 10
wait = "250ms"
"#,
        &[],
    )
    .expect("valid file");
    assert_eq!(config.peer.id, "vp3");
    assert_eq!(config.peer.network_id, "testnet");
    assert_eq!(config.peer.file_system_path, Path::new("/tmp/vp3"));
    assert!(!config.peer.validator.enabled);
    assert_eq!(config.peer.validator.consensus.plugin, "pbft");
    assert_eq!(config.peer.validator.consensus.buffersize, 50);
    assert_eq!(config.peer.validator.events.timeout, -1);
    assert_eq!(config.peer.discovery.period, 10);
    assert_eq!(config.chaincode.mode, ChaincodeMode::Docker);
    assert_eq!(config.chaincode.startup_timeout, 1000);
    assert_eq!(config.noops.block.size, 10);
    assert_eq!(config.noops.block.wait, 250);
}

#[test]
fn env_overrides_file_which_overrides_defaults() {
    let text =
        "[peer]\nid = \"from-file\"\nnetworkId = \"file-net\"\n[chaincode]\nmode = \"process\"\n";
    let vars = [
        ("CORE_PEER_ID", "vp7"),
        ("CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN", "pbft"),
        ("CORE_CHAINCODE_MODE", "dev"),
        ("CORE_PEER_FILESYSTEMPATH", "/data/vp7"),
        ("CORE_PEER_VALIDATOR_ENABLED", "false"),
        ("CORE_NOOPS_BLOCK_SIZE", "7"),
        ("CORE_NOOPS_BLOCK_WAIT", "2"),
        ("CORE_PBFT_GENERAL_N", "4"),
        ("CORE_CHAINCODE_ID_NAME", "mycc"),
        ("HOME", "/root"),
    ];
    let config = load_text(text, &vars).expect("valid");
    assert_eq!(config.peer.id, "vp7");
    assert_eq!(config.peer.network_id, "file-net");
    assert_eq!(config.peer.validator.consensus.plugin, "pbft");
    assert_eq!(config.chaincode.mode, ChaincodeMode::Dev);
    assert_eq!(config.peer.file_system_path, Path::new("/data/vp7"));
    assert!(!config.peer.validator.enabled);
    assert_eq!(config.noops.block.size, 7);
    assert_eq!(
        config.noops.block.wait, 2000,
        "a bare number is seconds, as in v0.6"
    );
}

#[test]
fn unacked_writes_are_on_unless_switched_off() {
    let config = load_text("", &[]).expect("valid");
    assert!(config.chaincode.unacked_writes);
    let off = load_text("", &[("CORE_CHAINCODE_UNACKEDWRITES", "false")]).expect("valid");
    assert!(!off.chaincode.unacked_writes);
    let file = load_text("[chaincode]\nunackedWrites = false\n", &[]).expect("valid");
    assert!(!file.chaincode.unacked_writes);
}

#[test]
fn env_names_follow_the_v06_rule() {
    assert_eq!(env_name("peer.networkId"), "CORE_PEER_NETWORKID");
    assert_eq!(
        env_name("peer.validator.consensus.plugin"),
        "CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN"
    );
    assert_eq!(env_name("noops.block.wait"), "CORE_NOOPS_BLOCK_WAIT");
    let config = load(
        None,
        env(&[
            ("CORE_PEER_NETWORKID", "x"),
            ("CORE_NOOPS_BLOCK_WAIT", "1500ms"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.peer.network_id, "x");
    assert_eq!(config.noops.block.wait, 1500);
}

#[test]
fn unknown_key_names_the_key_file_and_allowed_keys() {
    let f = file("[peer]\nid = \"vp0\"\nnetworkID = \"dev\"\n");
    let err = load(Some(f.path()), env(&[]))
        .expect_err("unknown key")
        .to_string();
    assert!(
        err.starts_with("unknown key `peer.networkID` in config file "),
        "{err}"
    );
    assert!(err.contains(&f.path().display().to_string()), "{err}");
    assert!(err.contains("expected one of: "), "{err}");
    assert!(err.contains("networkId"), "{err}");
}

#[test]
fn unknown_top_level_section_is_an_error() {
    let err = load_text("[consensus]\nplugin = \"pbft\"\n", &[])
        .expect_err("unknown")
        .to_string();
    assert!(
        err.starts_with("unknown key `consensus` in config file"),
        "{err}"
    );
}

#[test]
fn wrong_type_in_file_names_key_and_expectation() {
    let err = load_text("[peer.validator.consensus]\nbuffersize = \"big\"\n", &[])
        .expect_err("bad type")
        .to_string();
    assert!(
        err.starts_with("bad value for `peer.validator.consensus.buffersize` in config file "),
        "{err}"
    );
    assert!(err.contains("invalid type: string \"big\""), "{err}");
}

#[test]
fn negative_size_is_rejected() {
    let err = load_text("[noops.block]\nsize = -3\n", &[])
        .expect_err("negative")
        .to_string();
    assert!(
        err.starts_with("bad value for `noops.block.size` in config file"),
        "{err}"
    );
}

#[test]
fn table_where_value_expected_and_back() {
    let err = load_text("[peer.id]\nx = 1\n", &[])
        .expect_err("table")
        .to_string();
    assert!(
        err.contains("`peer.id`") && err.contains("expected a single value, found a table"),
        "{err}"
    );
    let err = load_text("[peer]\nvalidator = true\n", &[])
        .expect_err("value")
        .to_string();
    assert!(
        err.contains("`peer.validator`") && err.contains("expected a table `[peer.validator]`"),
        "{err}"
    );
}

#[test]
fn unparsable_env_value_names_the_variable() {
    let err = load(None, env(&[("CORE_NOOPS_BLOCK_SIZE", "lots")]))
        .expect_err("bad env")
        .to_string();
    assert_eq!(
        err,
        "bad value for `noops.block.size` from environment variable CORE_NOOPS_BLOCK_SIZE: expected a whole number, found \"lots\""
    );
    let err = load(None, env(&[("CORE_PEER_VALIDATOR_ENABLED", "maybe")]))
        .expect_err("bad bool")
        .to_string();
    assert!(
        err.contains("CORE_PEER_VALIDATOR_ENABLED: expected true or false"),
        "{err}"
    );
    let err = load(None, env(&[("CORE_NOOPS_BLOCK_WAIT", "soon")]))
        .expect_err("bad duration")
        .to_string();
    assert!(
        err.contains("CORE_NOOPS_BLOCK_WAIT") && err.contains("expected a duration"),
        "{err}"
    );
    let err = load(None, env(&[("CORE_CHAINCODE_MODE", "cloud")]))
        .expect_err("bad mode")
        .to_string();
    assert!(
        err.starts_with(
            "bad value for `chaincode.mode` from environment variable CORE_CHAINCODE_MODE"
        ),
        "{err}"
    );
}

#[test]
fn empty_peer_id_is_rejected_with_its_origin() {
    let err = load(None, env(&[("CORE_PEER_ID", "")]))
        .expect_err("empty id")
        .to_string();
    assert_eq!(
        err,
        "bad value for `peer.id` from environment variable CORE_PEER_ID: must not be empty; name this peer, e.g. vp0"
    );
    let err = load_text("[peer]\nid = \"  \"\n", &[])
        .expect_err("blank id")
        .to_string();
    assert!(
        err.starts_with("bad value for `peer.id` in config file"),
        "{err}"
    );
}

#[test]
fn bad_addresses_are_rejected() {
    for (var, value, key) in [
        ("CORE_PEER_ADDRESS", "localhost", "peer.address"),
        ("CORE_PEER_LISTENADDRESS", ":7051", "peer.listenAddress"),
        ("CORE_REST_ADDRESS", "0.0.0.0:http", "rest.address"),
        (
            "CORE_PEER_DISCOVERY_ROOTNODE",
            "vp0:7051,vp1",
            "peer.discovery.rootnode",
        ),
    ] {
        let err = load(None, env(&[(var, value)])).expect_err(var).to_string();
        assert!(
            err.starts_with(&format!(
                "bad value for `{key}` from environment variable {var}: expected host:port"
            )),
            "{err}"
        );
    }
    let ok = load(
        None,
        env(&[
            ("CORE_PEER_ADDRESS", "vp0:7051"),
            ("CORE_PEER_DISCOVERY_ROOTNODE", "vp0:7051, vp1:7051"),
        ]),
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn unknown_plugin_and_zero_sizes_are_rejected() {
    let err = load(
        None,
        env(&[("CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN", "raft")]),
    )
    .expect_err("plugin")
    .to_string();
    assert!(
        err.contains("expected \"noops\" or \"pbft\", found \"raft\""),
        "{err}"
    );
    let err = load_text("[peer.validator.events]\nbuffersize = 0\n", &[])
        .expect_err("zero")
        .to_string();
    assert!(
        err.starts_with("bad value for `peer.validator.events.buffersize` in config file")
            && err.ends_with("must be at least 1"),
        "{err}"
    );
}

#[test]
fn syntax_errors_name_the_file() {
    let f = file("[peer\nid = 1\n");
    let err = load(Some(f.path()), env(&[]))
        .expect_err("syntax")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "config file {} is not valid TOML",
            f.path().display()
        )),
        "{err}"
    );
}

#[test]
fn missing_explicit_file_is_an_error() {
    let err = load(Some(Path::new("/nonexistent/peerd.toml")), env(&[]))
        .expect_err("missing")
        .to_string();
    assert_eq!(
        err,
        "config file /nonexistent/peerd.toml not found; check the path given with --config"
    );
}

#[test]
fn to_toml_round_trips_through_load() {
    let mut config = Config::default();
    config.peer.id = "vp9".into();
    config.noops.block.wait = 250;
    config.chaincode.mode = ChaincodeMode::Dev;
    let text = config.to_toml().expect("renders");
    assert!(text.contains("networkId = \"dev\""), "{text}");
    assert!(text.contains("wait = \"250ms\""), "{text}");
    assert_eq!(load_text(&text, &[]).expect("reloads"), config);
}

#[test]
fn config_file_search_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg_dir = dir.path().join("cfg");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(&cfg_dir).expect("mkdir");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    assert_eq!(
        find_config_file(None, Some(&cfg_dir), &cwd).expect("search"),
        None
    );
    std::fs::write(cwd.join(CONFIG_FILE_NAME), "").expect("write");
    assert_eq!(
        find_config_file(None, Some(&cfg_dir), &cwd).expect("search"),
        Some(cwd.join(CONFIG_FILE_NAME))
    );
    std::fs::write(cfg_dir.join(CONFIG_FILE_NAME), "").expect("write");
    assert_eq!(
        find_config_file(None, Some(&cfg_dir), &cwd).expect("search"),
        Some(cfg_dir.join(CONFIG_FILE_NAME))
    );
    let explicit = dir.path().join("other.toml");
    assert!(matches!(
        find_config_file(Some(&explicit), Some(&cfg_dir), &cwd),
        Err(ConfigError::NotFound { .. })
    ));
    std::fs::write(&explicit, "").expect("write");
    assert_eq!(
        find_config_file(Some(&explicit), Some(&cfg_dir), &cwd).expect("search"),
        Some(explicit)
    );
}

#[test]
fn pbft_max_outstanding_is_read_and_must_leave_each_validator_a_share() {
    let pbft = [("CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN", "pbft")];
    let config =
        load_text("", &[pbft[0], ("CORE_PBFT_GENERAL_MAXOUTSTANDING", "400")]).expect("valid");
    assert_eq!(config.pbft.general.maxoutstanding, 400);
    assert_eq!(Config::default().pbft.general.maxoutstanding, 10_000);
    let err = load_text("[pbft.general]\nmaxoutstanding = 7\n", &pbft)
        .expect_err("below 2N")
        .to_string();
    assert!(
        err.contains("pbft.general.maxoutstanding")
            && err.ends_with(
                "must be at least 2N = 8 (each validator's clients get 1/(2N) of it), found 7"
            ),
        "{err}"
    );
}

#[test]
fn the_keys_a_user_set_are_told_apart_from_defaults() {
    let f = file("[peer]\nid = \"vp1\"\n");
    let loaded = load_tracked(
        Some(f.path()),
        env(&[("CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN", "pbft")]),
    )
    .expect("loads");
    let keys: Vec<&str> = loaded.set_keys.iter().map(String::as_str).collect();
    assert_eq!(keys, ["peer.id", "peer.validator.consensus.plugin"]);
    assert_eq!(loaded.config.peer.validator.consensus.plugin, "pbft");
    assert!(
        load_tracked(None, env(&[]))
            .expect("defaults")
            .set_keys
            .is_empty()
    );
}

#[test]
fn statetransfer_settings_have_v06_names_defaults_and_variables() {
    let defaults = load(None, env(&[])).expect("defaults").statetransfer;
    assert_eq!(defaults, StateTransferConfig::default());
    assert_eq!((defaults.blocksperrequest, defaults.maxdeltas), (20, 200));
    assert_eq!(
        (
            defaults.timeout.singleblock,
            defaults.timeout.singlestatedelta,
            defaults.timeout.fullstate
        ),
        (2_000, 2_000, 60_000)
    );
    let set = load_text(
        "[statetransfer]\nblocksperrequest = 5\n[statetransfer.timeout]\nfullstate = \"90s\"\n",
        &[
            ("CORE_STATETRANSFER_MAXDELTAS", "1"),
            ("CORE_STATETRANSFER_TIMEOUT_SINGLEBLOCK", "500ms"),
        ],
    )
    .expect("loads")
    .statetransfer;
    assert_eq!(
        (
            set.blocksperrequest,
            set.maxdeltas,
            set.timeout.singleblock,
            set.timeout.fullstate
        ),
        (5, 1, 500, 90_000)
    );
    let err = load_text("[statetransfer]\nrecoverdamage = false\n", &[])
        .expect_err("false")
        .to_string();
    assert!(
        err.starts_with("bad value for `statetransfer.recoverdamage` in config file"),
        "{err}"
    );
    let err = load(None, env(&[("CORE_STATETRANSFER_BLOCKSPERREQUEST", "0")]))
        .expect_err("0")
        .to_string();
    assert_eq!(
        err,
        "bad value for `statetransfer.blocksperrequest` from environment variable CORE_STATETRANSFER_BLOCKSPERREQUEST: must be at least 1"
    );
}

#[test]
fn a_misspelt_variable_of_a_known_section_is_refused_as_a_file_key_is() {
    let err = load(None, env(&[("CORE_STATETRANSFER_MAXDELTA", "1")]))
        .expect_err("misspelt")
        .to_string();
    assert_eq!(
        err,
        "unknown key `statetransfer.maxdelta` from environment variable CORE_STATETRANSFER_MAXDELTA; expected one of: blocksperrequest, maxdeltas, recoverdamage, timeout (key names are case-sensitive, as in v0.6 core.yaml)"
    );
    let file_err = load_text("[statetransfer]\nmaxdelta = 1\n", &[])
        .expect_err("file")
        .to_string();
    assert!(
        file_err.starts_with("unknown key `statetransfer.maxdelta` in config file"),
        "{file_err}"
    );
    let err = load(None, env(&[("CORE_PBFT_GENERAL_TIMEOUT_REQUST", "1s")]))
        .expect_err("nested")
        .to_string();
    assert!(
        err.starts_with(
            "unknown key `pbft.general.timeout.requst` from environment variable CORE_PBFT_GENERAL_TIMEOUT_REQUST; expected one of: batch, broadcast,"
        ),
        "{err}"
    );
    // What the chaincode shim reads, and other programs' sections, pass.
    load(
        None,
        env(&[
            ("CORE_CHAINCODE_ID_NAME", "mycc"),
            ("CORE_PEER_TLS_ENABLED", "false"),
            ("CORE_SECURITY_ENABLED", "false"),
        ]),
    )
    .expect("not peer settings");
}
