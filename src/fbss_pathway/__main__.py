"""``python -m fbss_pathway``: the same as the ``fbss-pathway`` command."""

import sys

from .cli import main

sys.exit(main())
