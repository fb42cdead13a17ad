"""matrx-orm 2.x's ``matrx_orm.core.*`` import paths, kept for existing code: each module only re-exports
names that live elsewhere in the package (``async_db_manager`` adapts 2.x's connection helpers to the pools
of ``matrx_orm.db``)."""
