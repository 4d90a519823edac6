"""`python -m tinyml` runs the command line."""

import sys

from tinyml.cli import main

sys.exit(main())
