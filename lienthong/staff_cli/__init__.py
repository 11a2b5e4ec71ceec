"""Commands for department staff: ``lienthong registry|health|rehab|aftercare|report <action>`` against a running
service, with the server's own message (vi or en) and error code when it refuses."""

from __future__ import annotations

import typer

from lienthong.staff_cli import aftercare, health, registry, rehab, report


def add_staff_commands(app: typer.Typer) -> None:
    for module in (registry, health, rehab, aftercare, report):
        app.add_typer(module.app, name=module.__name__.rsplit(".", 1)[1])
