"""The supervision service (issue 7): a FastAPI app over SQLAlchemy 2, on SQLite or PostgreSQL.

Rank 6: it imports the library (``synthlabel.pipeline`` and below); the library never imports it.
Needs the ``[service]`` extra (``pip install 'synthlabel[service]'``).
"""

from __future__ import annotations
