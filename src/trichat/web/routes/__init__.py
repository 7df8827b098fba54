"""The REST routes under /api/v1/chat (SPEC §4), one module per resource, each a
`Routes` list of small handlers that call the service. `web/rest.py` serves them."""
