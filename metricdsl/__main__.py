"""``python -m metricdsl``: the same as the ``metricdsl`` command."""

import sys

from .cli import main

sys.exit(main())
