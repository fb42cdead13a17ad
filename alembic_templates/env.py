"""Alembic environment of a matrx-orm migrations folder.

matrx-orm's runner does the work: it finds the database (``matrx_orm.database`` in alembic.ini, or the
``matrx-orm`` command that started Alembic), uses the models' MetaData as ``target_metadata`` and runs the
revisions on the project's AsyncEngine, one transaction per revision, under an advisory lock.
"""

from matrx_orm.migrations.runner import run_env

run_env()
