"""HTTP routers of the service (``/api/v1``); each module adds one router."""
