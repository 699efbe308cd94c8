"""``python -m mbv_desktop`` runs the command line."""

import sys

from mbv_desktop.cli import main

sys.exit(main())
