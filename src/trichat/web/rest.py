"""The REST API's registry: the operator's routes (`web/ops.py`), then one module per
resource under `web/routes/`, and /openapi.json built from the same declarations.
Every route calls the service, never the store or the broker."""

from __future__ import annotations

from quart import Response
from quart_trio import QuartTrio

from trichat import __version__
from trichat.web import log_schemas as LS
from trichat.web import ops
from trichat.web import read_schemas as RS
from trichat.web import schemas as S
from trichat.web.api import Api, Routes
from trichat.web.app import json_response
from trichat.web.deps import Deps
from trichat.web.routes import channels, log, members, messages, moderation, presence, reads
from trichat.web.routes.paths import PREFIX

__all__ = ["PREFIX", "RESOURCES", "register"]

# In the order the OpenAPI document lists them.
RESOURCES: tuple[Routes, ...] = (
    channels.routes,
    messages.routes,
    log.routes,
    reads.routes,
    presence.routes,
    members.routes,
    moderation.routes,
)


def register(app: QuartTrio, deps: Deps) -> Api:
    api = Api(app, deps.verifier)
    api.add_models(*S.ALL, *LS.ALL, *RS.ALL)
    ops.register(api, deps)
    for routes in RESOURCES:
        api.include(routes, chat=deps.service)
    document = api.openapi(title="trichat", version=__version__)

    @app.get("/openapi.json")
    async def openapi() -> Response:
        return json_response(document)

    return api
