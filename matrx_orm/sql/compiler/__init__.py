"""The compiler: the only code that builds SQLAlchemy statements.

``select`` (every SELECT, with the :class:`~.select.Scope` expressions compile against), ``filters`` (the
walk over a filter), ``joins`` (``select_related``), ``dml`` (INSERT / UPDATE / DELETE, junction writes),
``settings`` (per-query session settings) and ``cache`` (compiled SQL per statement shape).
"""
