"""``snakepit serve``: the root nursery holding the store and the HTTP server.

Start-up opens the data root and the database, then hypercorn; once it listens, systemd hears
READY=1. SIGTERM or SIGINT stops accepting connections, gives requests in flight
``shutdownTimeout`` to finish (STOPPING=1 is sent), then cancels what is left; a second signal
cancels at once.
"""

import logging
import signal

import hypercorn.config
import hypercorn.trio
import trio

from snakepit.api import create_app
from snakepit.config import Config
from snakepit.dataroot import DataRoot
from snakepit.services import Services
from snakepit.store import Database
from snakepit.systemd import notify

log = logging.getLogger("snakepit.server")


def hypercorn_config(config: Config) -> hypercorn.config.Config:
    hyper = hypercorn.config.Config()
    interface = config.interface
    host = f"[{interface}]" if ":" in interface else interface
    hyper.bind = [f"{host}:{config.port}"]
    hyper.graceful_timeout = config.shutdown_timeout_s
    hyper.accesslog = None  # snakepit.api logs requests itself (errors, or all with debugHttp)
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.keep_alive_timeout = 75
    hyper.backlog = 1024
    if config.serves_tls:  # HTTPS on the same bind; plain HTTP there fails the handshake
        hyper.certfile = config.tls_cert
        hyper.keyfile = config.tls_key
        # HTTP/1.1 only, as over plain HTTP: the published client and our own speak nothing else.
        hyper.alpn_protocols = ["http/1.1"]
    return hyper


async def serve(
    config: Config,
    *,
    shutdown: trio.Event | None = None,
    handle_signals: bool = False,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the service until ``shutdown`` is set (or a signal arrives).

    Args:
        config: the configuration.
        shutdown: set it to stop the service gracefully.
        handle_signals: stop on SIGTERM and SIGINT (only in the main thread).
        task_status: receives the URLs the server listens on, once it does.

    Raises:
        StoreError: the database cannot be opened.
        OSError: the address cannot be bound.
    """
    shutdown = trio.Event() if shutdown is None else shutdown
    services = await trio.to_thread.run_sync(_open_services, config)
    http_stopped = trio.Event()

    async def run_http(task_status: trio.TaskStatus[list[str]]) -> None:
        try:
            await hypercorn.trio.serve(
                create_app(services),
                hypercorn_config(config),
                shutdown_trigger=shutdown.wait,
                task_status=task_status,
            )
        finally:
            http_stopped.set()

    try:
        async with trio.open_nursery() as root:
            if handle_signals:
                root.start_soon(_stop_on_signals, shutdown, root.cancel_scope, name="signals")
            await root.start(services.node_monitor.run, name="node-monitor")
            await root.start(services.jobs.run, name="jobs")
            binds = await root.start(run_http, name="http")
            log.info("Snakepit listening on %s", ", ".join(binds))
            notify("READY=1")
            task_status.started(binds)
            await shutdown.wait()
            log.info("Shutting down; requests in flight have %gs", config.shutdown_timeout_s)
            notify("STOPPING=1")
            root.cancel_scope.deadline = trio.current_time() + config.shutdown_timeout_s + 1
            await http_stopped.wait()
            root.cancel_scope.cancel()
    finally:
        services.database.close()
    log.info("Snakepit stopped")


def _open_services(config: Config) -> Services:
    """Create the data root's folders and open the database. Blocking."""
    data_root = DataRoot(config.data_root)
    data_root.ensure_layout()
    config.database_path.parent.mkdir(parents=True, exist_ok=True)
    return Services.build(config, Database.open(config.database_path))


async def _stop_on_signals(shutdown: trio.Event, root_scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if shutdown.is_set():
                log.warning("Second %s: stopping now", name)
                root_scope.cancel()
            else:
                log.info("Received %s", name)
                shutdown.set()
