"""The Quart-Trio application: route families, one error renderer, access log, body draining."""

import logging
from typing import Any

from quart import Response, has_websocket_context, request, websocket
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioRequest
from werkzeug.exceptions import HTTPException

from snakepit.api import aliases, docs, files, groups, hello, instances, jobs, nodes, users
from snakepit.api.requests import read_body
from snakepit.api.routing import RouteSpec
from snakepit.errors import ApiError
from snakepit.services import Services
from snakepit.store import StoreFull

log = logging.getLogger("snakepit.http")

#: The route families; each module has ``create_routes(services) -> Routes``.
ROUTE_MODULES = (hello, docs, users, groups, aliases, nodes, jobs, files, instances)


#: Bytes of a file upload received but not yet written that may wait in memory. Quart applies
#: MAX_CONTENT_LENGTH to them, which refused uploads whenever the disk fell behind the client;
#: the upload handlers count the whole body against their own limits instead.
UPLOAD_BUFFER_LIMIT = 64 * 1024 * 1024


class SnakepitRequest(TrioRequest):
    """A request whose file uploads (``PUT .../fs/data/...``, ``.../simplefs/content/...``)
    stream past ``maxBodySize`` as far as Quart is concerned."""

    def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
        if method == "PUT" and ("/fs/data/" in path or "/simplefs/content/" in path):
            kwargs["max_content_length"] = UPLOAD_BUFFER_LIMIT
        super().__init__(method, scheme, path, *args, **kwargs)


def create_app(services: Services) -> QuartTrio:
    """Build the HTTP application around ``services``."""
    app = QuartTrio("snakepit")
    app.request_class = SnakepitRequest
    app.config["MAX_CONTENT_LENGTH"] = services.config.max_body_size
    app.config["BODY_TIMEOUT"] = 60
    # Quart ends a response body after RESPONSE_TIMEOUT (60 s): a followed log (`pit log -f`)
    # or a large download takes as long as it takes. Clients that go away end theirs.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["JSON_SORT_KEYS"] = False
    specs: list[RouteSpec] = []
    for module in ROUTE_MODULES:
        routes = module.create_routes(services)
        app.register_blueprint(routes.blueprint)
        specs.extend(routes.specs)
    app.extensions["snakepit_routes"] = specs

    @app.errorhandler(ApiError)
    async def render_api_error(error: ApiError) -> tuple[dict[str, Any], int]:
        return error.body(), error.status

    @app.errorhandler(StoreFull)
    async def render_store_full(error: StoreFull) -> tuple[dict[str, Any], int]:
        log.error("%s", error)
        return {"message": "The service's disk is full; nothing was changed"}, 507

    @app.errorhandler(HTTPException)
    async def render_http_error(error: HTTPException) -> tuple[dict[str, Any], int]:
        status = error.code or 500
        method, path = _method_and_path()
        if status == 404:
            message = f"No such route: {method} {path}"
        elif status == 405:
            message = f"Method {method} not allowed on {path}"
        elif status == 413:
            message = f"Request body larger than {services.config.max_body_size} bytes"
        else:
            message = error.description or error.name
        return {"message": message}, status

    @app.errorhandler(Exception)
    async def render_unexpected(error: Exception) -> tuple[dict[str, Any], int]:
        method, path = _method_and_path()
        log.error("Unhandled error in %s %s", method, path, exc_info=error)
        return {"message": "Internal error; the service log has the details"}, 500

    if services.config.debug_http:

        @app.before_request
        async def log_start() -> None:
            log.debug('%s "%s %s" started', request.remote_addr, request.method, request.path)

    @app.after_request
    async def finish(response: Response) -> Response:
        # An unread body can stall the next request on a keep-alive connection (platform.md).
        try:
            await read_body()
        except ApiError:
            response.headers["Connection"] = "close"
        if services.config.debug_http or response.status_code >= 400:
            log.info(
                '%s "%s %s" %d',
                request.remote_addr,
                request.method,
                request.full_path.rstrip("?"),
                response.status_code,
            )
        return response

    return app


def _method_and_path() -> tuple[str, str]:
    """What was asked, for messages: an HTTP request or a websocket upgrade."""
    if has_websocket_context():
        return "WEBSOCKET", websocket.path
    return request.method, request.path


def route_specs(app: QuartTrio) -> list[RouteSpec]:
    """Every declared route with its access level (for tests and documentation)."""
    return list(app.extensions["snakepit_routes"])
