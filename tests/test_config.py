"""Configuration: defaults, time values, type errors, unknown keys."""

import pytest

from snakepit.config import ConfigError, config_from_mapping, load_config
from snakepit.durations import DurationError, parse_duration_s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("1d", 86400),
        ("2 days", 172800),
        ("1500", 1.5),
        ("250ms", 0.25),
        ("1.5h", 5400),
        (1000, 1.0),
    ],
)
def test_time_values(text, seconds):
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "soon", "5 parsecs", "1h30", "-5s", "1h-", True, [1], "9" * 400, "200y", 1e300]
)
def test_unreadable_time_values(text):
    with pytest.raises(DurationError):
        parse_duration_s(text)


def test_defaults_are_the_published_ones(secret_file):
    config, warnings = config_from_mapping({"tokenSecretPath": str(secret_file)})
    assert warnings == []
    assert (config.interface, config.port, config.log_level) == ("0.0.0.0", 80, 1)
    assert (config.debug_http, config.debug_job_fs) == (False, False)
    assert config.token_ttl_s == 86400
    assert config.hash_rounds == 10
    assert config.endpoint == "https://127.0.0.1:8443"
    assert (config.lxd_timeout_s, config.container_timeout_s) == (10, 30)
    assert (config.lxd_bridge, config.lxd_domain) == ("lxdbr0", "lxd")
    assert config.poll_interval_s == 1
    assert config.max_parallel_prep == 2
    assert (config.max_prep_duration_s, config.max_start_duration_s) == (3600, 300)
    assert config.mount_root == "/snakepit"
    assert config.query_limit == 100
    assert config.token_secret == secret_file.read_bytes()
    assert str(config.database_path) == "/snakepit/snakepit.db"


def test_every_key_of_the_seed_readme_is_known(secret_file):
    raw = {
        "interface": "127.0.0.1",
        "port": 8080,
        "logLevel": 0,
        "debugHttp": True,
        "debugJobFS": True,
        "tokenSecret": str(secret_file),
        "tokenTTL": "12h",
        "hashRounds": 12,
        "endpoint": "https://10.0.0.1:8443",
        "clientKey": str(secret_file),
        "clientCert": str(secret_file),
        "lxdServerCert": "/var/lib/lxd/server.crt",
        "lxdTimeout": "20s",
        "lxdBridge": "br1",
        "lxdDomain": "pit",
        "containerTimeout": "1m",
        "pollInterval": "2s",
        "maxParallelPrep": 4,
        "maxPrepDuration": "2h",
        "maxStartDuration": "10m",
        "mountRoot": "/data",
        "queryLimit": 50,
    }
    config, warnings = config_from_mapping(raw)
    assert warnings == []
    assert config.token_ttl_s == 12 * 3600
    assert config.container_timeout_s == 60
    assert config.poll_interval_s == 2
    assert config.debug_job_fs is True
    assert config.client_cert == str(secret_file)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("port", "eighty", "port: expected a whole number from 0 to 65535"),
        ("port", 70000, "port: expected a whole number"),
        ("logLevel", 3, "logLevel: expected a whole number from 0 to 2"),
        ("debugHttp", "maybe", "debugHttp: expected true or false"),
        ("tokenTTL", "forever", "tokenTTL: cannot read 'forever'"),
        ("pollInterval", "1 fortnight", "pollInterval: unknown time unit"),
        ("hashRounds", 2, "hashRounds: expected a whole number from 4 to 31"),
        ("workerEnv", ["A=1"], "workerEnv: expected a mapping"),
        ("interface", "", "interface: expected a non-empty string"),
        ("headNode", "Head-1", "headNode: must be a node id"),
    ],
)
def test_wrong_values_name_the_key(secret_file, key, value, message):
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"tokenSecretPath": str(secret_file), key: value})
    assert str(caught.value).startswith(message)


def test_missing_secret_file(tmp_path):
    with pytest.raises(ConfigError, match=r"tokenSecretPath: cannot read .*/absent"):
        config_from_mapping({"tokenSecretPath": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match="tokenSecretPath: missing"):
        config_from_mapping({})


def test_client_certificate_files_must_exist(secret_file, tmp_path):
    with pytest.raises(ConfigError, match=r"clientCert: cannot read .*/missing.crt"):
        config_from_mapping(
            {
                "tokenSecretPath": str(secret_file),
                "clientCert": str(tmp_path / "missing.crt"),
                "clientKey": str(secret_file),
            }
        )
    with pytest.raises(ConfigError, match="give both or neither"):
        config_from_mapping({"tokenSecretPath": str(secret_file), "clientKey": str(secret_file)})


def test_unknown_keys_are_warned_about_with_the_nearest_known_key(secret_file):
    _, warnings = config_from_mapping(
        {"tokenSecretPath": str(secret_file), "pollIntervall": "1s", "colour": "blue"}
    )
    assert warnings == [
        "unknown configuration key 'pollIntervall' ignored; did you mean pollInterval?",
        "unknown configuration key 'colour' ignored",
    ]


def test_file_paths_are_relative_to_the_config_file(tmp_path, secret_file):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "secret").write_text("s3cret\n")
    conf = tmp_path / "etc" / "snakepit.conf"
    conf.write_text("tokenSecretPath: secret\nport: 8080\n")
    config, _ = load_config(conf, environ={})
    assert config.token_secret == b"s3cret\n"


def test_environment_overrides(tmp_path, secret_file):
    conf = tmp_path / "snakepit.conf"
    conf.write_text(f"tokenSecretPath: {secret_file}\nport: 8080\n")
    config, _ = load_config(
        None,
        environ={"SNAKEPIT_CONF": str(conf), "SNAKEPIT_PORT": "9090", "SNAKEPIT_DEBUG_HTTP": "1"},
    )
    assert (config.port, config.debug_http) == (9090, True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: [1, 2", "is not valid YAML at line"),
        ("- a\n- b\n", "must hold a mapping"),
    ],
)
def test_file_that_is_not_a_mapping(tmp_path, text, message):
    conf = tmp_path / "snakepit.conf"
    conf.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(conf, environ={})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "nope.conf", environ={})
