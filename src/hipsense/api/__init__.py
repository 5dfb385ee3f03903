"""The local service: FastAPI app (``hipsense.api.app``), WebSocket and static dashboard.

Kept import-free so that ``hipsense --help`` does not load the web stack.
"""
