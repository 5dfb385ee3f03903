"""``python -m hipsense.cli``: the ``hipsense`` command."""

import sys

from hipsense.cli import main

sys.exit(main())
