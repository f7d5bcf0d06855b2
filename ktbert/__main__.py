"""`python -m ktbert ...`: the `ktbert` command line (see `ktbert.cli`)."""

import sys

from ktbert.cli import main

sys.exit(main())
