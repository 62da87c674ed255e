"""What the HTTP API needs, built once by the server and passed to ``create_app``."""

import dataclasses
import time
from collections.abc import Callable

from snakepit.config import Config
from snakepit.dataroot import DataRoot
from snakepit.jobs.runner import JobRunner
from snakepit.nodes.connect import LxdConnector
from snakepit.nodes.monitor import NodeMonitor
from snakepit.passwords import PasswordHasher
from snakepit.store import Database
from snakepit.throttle import LoginThrottle


@dataclasses.dataclass
class Services:
    config: Config
    database: Database
    data_root: DataRoot
    passwords: PasswordHasher
    login_throttle: LoginThrottle
    lxd: LxdConnector
    node_monitor: NodeMonitor
    jobs: JobRunner
    #: Wall-clock time in seconds, for token lifetimes; tests may replace it.
    clock: Callable[[], float] = time.time

    @classmethod
    def build(cls, config: Config, database: Database) -> "Services":
        connector = LxdConnector(config)
        data_root = DataRoot(config.data_root)
        return cls(
            config=config,
            database=database,
            data_root=data_root,
            passwords=PasswordHasher(config.hash_rounds),
            login_throttle=LoginThrottle(config.login_delay_s),
            lxd=connector,
            node_monitor=NodeMonitor(database, connector, config),
            jobs=JobRunner(config, database, data_root, connector),
        )
