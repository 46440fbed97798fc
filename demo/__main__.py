"""``python -m demo``: run the local demo (``demo.run.main``)."""

import sys

from demo.run import main

sys.exit(main())
