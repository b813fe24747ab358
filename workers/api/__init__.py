"""The HTTP API: health events and attribute changes in, account status and decisions out.

``playbook api`` serves :func:`create_app` with uvicorn; ``playbook dev`` runs it beside the
dev server and a worker. The OpenAPI document is at ``/openapi.json`` (browsable at
``/docs``); ``/healthz`` and ``/readyz`` answer load balancers without credentials.
"""

from workers.api._app import MAX_BODY_BYTES, create_app
from workers.api._serve import ApiRefused, serve

__all__ = ["MAX_BODY_BYTES", "ApiRefused", "create_app", "serve"]
