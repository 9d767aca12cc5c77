"""``python -m socketapi``: the same as the ``socketapi`` command."""

import sys

from .cli import main

sys.exit(main())
