"""``synthlabel demo-data [--database-url URL] [--json]``: fill a service database with demo
users, providers and filings, inspected items, review jobs, a decision and a complaint (see
:mod:`synthlabel.service.web.demo_data`), then print the logins and how to start the service.

Exit codes: 0 seeded (or already seeded), 2 usage / database error.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from synthlabel.cli._common import JsonOpt, emit_json, fail
from synthlabel.cli.serve_cmd import _need_service, _safe_url, _settings

out = Console(highlight=False, soft_wrap=True)

DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SYNTHLABEL_DATABASE_URL",
        help="sqlite:///FILE or postgresql://USER@HOST/DB [default: sqlite:///./synthlabel.db].",
    ),
]


def demo_data(
    database_url: DatabaseUrlOpt = None,
    port: Annotated[int, typer.Option(help="Port shown in the printed URL.")] = 8000,
    as_json: JsonOpt = False,
) -> None:
    """Seed demo data for the web UI (users admin/reviewer with printed passwords)."""
    _need_service()
    from sqlalchemy.exc import SQLAlchemyError

    from synthlabel.errors import SynthlabelError
    from synthlabel.service.db.engine import DatabaseURLError
    from synthlabel.service.web.demo_data import seed

    settings = _settings(database_url)
    try:
        result = seed(settings)
    except (DatabaseURLError, SQLAlchemyError, OSError, SynthlabelError) as exc:
        msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"demo data: {msg}")
    url = f"http://127.0.0.1:{port}/"
    db = _safe_url(settings.database_url)
    serve = f"synthlabel serve --database-url '{settings.database_url}' --port {port}"
    if as_json:
        emit_json(
            {
                "created": result.created,
                "database": db,
                "users": [{"name": n, "role": r, "password": p} for n, r, p in result.users],
                "items": result.items,
                "review_jobs": result.jobs,
                "complaint_ticket": result.complaint_ticket,
                "url": url,
                "serve": serve,
            }
        )
        return
    if not result.created:
        out.print(f"{db}: the demo data is there already (user 'admin' exists); nothing added.")
    else:
        out.print(f"demo data in {db}:")
        out.print(
            f"  {result.items} inspected items (files in {result.blob_dir}), "
            f"{result.jobs} review jobs, complaint {result.complaint_ticket}"
        )
        out.print("  logins (demo only; change them for anything real):")
        for name, role, password in result.users:
            out.print(f"    {role:9} {name} / {password}")
    out.print(f"start the service:  {serve}")
    out.print(f"then open:          {url}")
