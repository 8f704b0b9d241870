"""``python -m avf_bel_link``: the same as ``avf-bel-read``."""
import sys

from .cli import main

sys.exit(main())
