"""`python -m nimlab` is the `nimlab` command."""

import sys

from nimlab.cli import main

sys.exit(main())
