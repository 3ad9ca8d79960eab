"""`python -m evsim.nir export|import|inspect`: see `evsim.nir.cli.main`."""

import sys

from .cli import main

sys.exit(main())
