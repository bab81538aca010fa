"""``python -m vstm``, which is also what ``torchrun -m vstm train ...`` runs."""

import sys

from vstm.cli import main

sys.exit(main())
