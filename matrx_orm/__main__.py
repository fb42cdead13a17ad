"""``python -m matrx_orm``: the same as the ``matrx-orm`` command."""

import sys

from matrx_orm.cli import main

if __name__ == "__main__":
    sys.exit(main())
