"""``python -m jax_expdecay``: see ``python -m jax_expdecay --help``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
