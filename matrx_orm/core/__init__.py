"""matrx-orm's ``matrx_orm.core`` import paths (``matrx_orm.core.signals``), kept for existing user code."""
