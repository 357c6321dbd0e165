"""``python -m ventgen.cli``."""

import sys

from . import main

sys.exit(main())
