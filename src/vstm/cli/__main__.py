"""``python -m vstm.cli``, the same as ``python -m vstm``."""

import sys

from vstm.cli import main

sys.exit(main())
