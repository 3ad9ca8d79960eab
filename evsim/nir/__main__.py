"""`python -m evsim.nir export|import|inspect`: see `evsim.nir.main`."""

import sys

from . import main

sys.exit(main())
