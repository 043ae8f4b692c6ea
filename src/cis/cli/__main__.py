"""`python -m cis.cli` runs the command line."""

import sys

from cis.cli import main

sys.exit(main())
