"""The service configuration: one frozen value, read once from YAML and passed down.

The file is ``$SNAKEPIT_CONF`` or ``/etc/snakepit/snakepit.conf``. Keys keep the published
service's camelCase names; each is checked for its type here, so that a mistake stops start-up
with one line naming the key instead of failing later. Unknown keys are reported with the nearest
known key. Time values (``30s``, ``5m``, ``1h30m``, ``1d``) become float seconds in fields ending
in ``_s``.
"""

import dataclasses
import difflib
import os
import re
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from snakepit.durations import DurationError, parse_duration_s
from snakepit.ids import is_number

#: Where the configuration lives unless ``$SNAKEPIT_CONF`` says otherwise.
DEFAULT_CONFIG_PATH = Path("/etc/snakepit/snakepit.conf")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the problem."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of the service, with the published defaults."""

    token_secret: bytes
    interface: str = "0.0.0.0"
    port: int = 80
    log_level: int = 1
    debug_http: bool = False
    debug_job_fs: bool = False
    token_secret_path: str = ""
    token_ttl_s: float = 86400.0
    hash_rounds: int = 10
    endpoint: str = "https://127.0.0.1:8443"
    client_key: str | None = None
    client_cert: str | None = None
    lxd_server_cert: str = "/var/lib/lxd/server.crt"
    lxd_timeout_s: float = 10.0
    lxd_bridge: str = "lxdbr0"
    lxd_domain: str = "lxd"
    container_timeout_s: float = 30.0
    poll_interval_s: float = 1.0
    max_parallel_prep: int = 2
    max_prep_duration_s: float = 3600.0
    max_start_duration_s: float = 300.0
    mount_root: str = "/snakepit"
    mount_uid: int | None = None
    query_limit: int = 100
    worker_env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    database: str | None = None
    open_registration: bool = True
    max_body_size: int = 50 * 1024 * 1024
    login_delay_s: float = 1.0
    origin_schemes: tuple[str, ...] = ("https", "ssh", "git")
    shutdown_timeout_s: float = 10.0
    #: LXD profiles of worker and probe containers (an ``nvidia.runtime`` profile, say).
    worker_profiles: tuple[str, ...] = ("default",)
    #: Node id in the names of pit daemons (``sp-<headNode>-<pit>-d``) on the head's LXD.
    head_node: str = "head"
    #: The service's own TLS certificate (PEM, chain first) and key: it then serves HTTPS.
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def serves_tls(self) -> bool:
        """Whether the service speaks HTTPS itself (``tlsCert`` and ``tlsKey`` are set)."""
        return bool(self.tls_cert and self.tls_key)

    @property
    def data_root(self) -> Path:
        """The data root on this machine (``mountRoot``)."""
        return Path(self.mount_root)

    @property
    def database_path(self) -> Path:
        """The SQLite file: ``database``, or ``snakepit.db`` in the data root."""
        return Path(self.database) if self.database else self.data_root / "snakepit.db"


# -- value checkers: each takes the raw YAML value and returns the field value or raises
#    ValueError with a message that completes "<key>: ..."


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _node_id(value: Any) -> str:
    text = _string(value)
    if not re.fullmatch(r"[a-z][a-z0-9]*", text):
        raise ValueError(f"must be a node id ([a-z][a-z0-9]*), not {text!r}")
    return text


def _optional_string(value: Any) -> str | None:
    return None if value is None else _string(value)


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, str) and is_number(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {value!r}")
        return value

    return check


def _optional_integer(low: int, high: int) -> Callable[[Any], int | None]:
    check = _integer(low, high)
    return lambda value: None if value is None else check(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "0", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _duration(value: Any) -> float:
    try:
        return parse_duration_s(value)
    except DurationError as error:
        raise ValueError(str(error)) from None


def _string_map(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of names to values, got {value!r}")
    result = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise ValueError(f"{name!r} is not a valid environment variable name")
        if isinstance(item, dict | list) or item is None:
            raise ValueError(f"value of {name} must be a string or number")
        result[name] = str(item)
    return result


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"expected a list of names, got {value!r}")
    return value


#: YAML key → (dataclass field, checker). ``tokenSecret`` is the README's name for
#: ``tokenSecretPath``; both are accepted.
KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "interface": ("interface", _string),
    "port": ("port", _integer(0, 65535)),
    "logLevel": ("log_level", _integer(0, 2)),
    "debugHttp": ("debug_http", _boolean),
    "debugJobFS": ("debug_job_fs", _boolean),
    "tokenSecretPath": ("token_secret_path", _string),
    "tokenSecret": ("token_secret_path", _string),
    "tokenTTL": ("token_ttl_s", _duration),
    "hashRounds": ("hash_rounds", _integer(4, 31)),
    "endpoint": ("endpoint", _string),
    "clientKey": ("client_key", _optional_string),
    "clientCert": ("client_cert", _optional_string),
    "lxdServerCert": ("lxd_server_cert", _string),
    "lxdTimeout": ("lxd_timeout_s", _duration),
    "lxdBridge": ("lxd_bridge", _string),
    "lxdDomain": ("lxd_domain", _string),
    "containerTimeout": ("container_timeout_s", _duration),
    "pollInterval": ("poll_interval_s", _duration),
    "maxParallelPrep": ("max_parallel_prep", _integer(1, 1000)),
    "maxPrepDuration": ("max_prep_duration_s", _duration),
    "maxStartDuration": ("max_start_duration_s", _duration),
    "mountRoot": ("mount_root", _string),
    "mountUid": ("mount_uid", _optional_integer(0, 2**32 - 2)),
    "queryLimit": ("query_limit", _integer(1, 100000)),
    "workerEnv": ("worker_env", _string_map),
    "database": ("database", _optional_string),
    "openRegistration": ("open_registration", _boolean),
    "maxBodySize": ("max_body_size", _integer(1024, 2**40)),
    "loginDelay": ("login_delay_s", _duration),
    "originSchemes": ("origin_schemes", lambda value: tuple(_string_list(value))),
    "shutdownTimeout": ("shutdown_timeout_s", _duration),
    "headNode": ("head_node", _node_id),
    "workerProfiles": ("worker_profiles", lambda value: tuple(_string_list(value))),
    "tlsCert": ("tls_cert", _optional_string),
    "tlsKey": ("tls_key", _optional_string),
}

#: Environment variables that override a key, as in the published service.
ENVIRONMENT_OVERRIDES = {
    "SNAKEPIT_INTERFACE": "interface",
    "SNAKEPIT_PORT": "port",
    "SNAKEPIT_DEBUG_HTTP": "debugHttp",
    "SNAKEPIT_DEBUG_JOBFS": "debugJobFS",
}

_PATH_FIELDS = (
    "token_secret_path",
    "client_key",
    "client_cert",
    "lxd_server_cert",
    "mount_root",
    "database",
    "tls_cert",
    "tls_key",
)
#: Files that must be readable at start-up when they are configured.
_REQUIRED_FILES = {
    "clientKey": "client_key",
    "clientCert": "client_cert",
    "tlsCert": "tls_cert",
    "tlsKey": "tls_key",
}


def config_from_mapping(
    raw: Mapping[str, Any], *, base_dir: Path | None = None
) -> tuple[Config, list[str]]:
    """Check a mapping of YAML keys and build the configuration.

    Args:
        raw: keys and values as read from YAML.
        base_dir: relative paths are taken relative to this folder (the config file's).

    Returns:
        The configuration and a list of warnings (unknown keys, with the nearest known key).

    Raises:
        ConfigError: a value has the wrong type or the token secret cannot be read.
    """
    warnings = []
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in KEYS:
            nearest = difflib.get_close_matches(str(key), KEYS, n=1, cutoff=0.5)
            hint = f"; did you mean {nearest[0]}?" if nearest else ""
            warnings.append(f"unknown configuration key {key!r} ignored{hint}")
            continue
        field, check = KEYS[key]
        try:
            fields[field] = check(value)
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None
    for name in _PATH_FIELDS:
        if fields.get(name) and base_dir is not None:
            fields[name] = str(base_dir / fields[name])
    fields["token_secret"] = _read_secret(fields.get("token_secret_path"))
    for key, name in _REQUIRED_FILES.items():
        if fields.get(name) and not os.access(fields[name], os.R_OK):
            raise ConfigError(f"{key}: cannot read {fields[name]}")
    if bool(fields.get("client_key")) != bool(fields.get("client_cert")):
        raise ConfigError("clientCert and clientKey: give both or neither")
    if bool(fields.get("tls_cert")) != bool(fields.get("tls_key")):
        raise ConfigError("tlsCert and tlsKey: give both or neither")
    if fields.get("tls_cert"):
        _check_tls_pair(fields["tls_cert"], fields["tls_key"])
    return Config(**fields), warnings


def _check_tls_pair(cert: str, key: str) -> None:
    """Load the service's certificate and key as hypercorn will, so a bad pair stops start-up
    with one line instead of a traceback from the server."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # An empty passphrase: an encrypted key fails here instead of prompting on a terminal.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, ValueError) as error:
        reason = getattr(error, "reason", None) or str(error)
        raise ConfigError(f"tlsCert and tlsKey: cannot load {cert} with {key}: {reason}") from None


def _read_secret(path: str | None) -> bytes:
    if not path:
        raise ConfigError("tokenSecretPath: missing; it names the file holding the token secret")
    try:
        secret = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"tokenSecretPath: cannot read {path}: {error.strerror}") from None
    if not secret.strip():
        raise ConfigError(f"tokenSecretPath: {path} is empty")
    # The raw content, trailing newline included, is the secret (as in the published service).
    return secret


def load_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Config, list[str]]:
    """Read the configuration file and apply the environment overrides.

    Args:
        path: the file; default ``$SNAKEPIT_CONF`` or ``/etc/snakepit/snakepit.conf``.
        environ: the environment (default ``os.environ``).

    Raises:
        ConfigError: the file is missing, not YAML, not a mapping, or holds a bad value.
    """
    environ = os.environ if environ is None else environ
    if path is None:
        path = Path(environ.get("SNAKEPIT_CONF") or DEFAULT_CONFIG_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read configuration file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"configuration file {path} is not UTF-8 text") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"configuration file {path} is not valid YAML{line}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping of keys to values")
    for variable, key in ENVIRONMENT_OVERRIDES.items():
        if environ.get(variable):
            raw[key] = environ[variable]
    return config_from_mapping(raw, base_dir=path.parent)
