"""``python -m mbv_desktop.sandbox``: run the emulators in the foreground and print their URLs."""

import sys

from mbv_desktop.sandbox.host import main

sys.exit(main())
