"""Alembic environment of a matrx-orm migrations folder.

matrx-orm's runner does the work: it finds the database (``matrx_orm.database`` in alembic.ini,
``[tool.matrx-orm]`` in pyproject.toml, or the ``matrx-orm`` command that started Alembic), applies the
logging setup of alembic.ini when plain ``alembic`` runs, uses the models' MetaData as ``target_metadata`` and
runs the revisions on the project's AsyncEngine under an advisory lock.
"""

from matrx_orm.migrations.runner import run_env

run_env()
