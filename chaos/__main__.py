"""``python -m chaos [SCENARIO]``: run the fault campaign (``CHAOS_QUICK=1`` for a smaller one) or a targeted scenario."""

import sys

from chaos.campaign import main

if __name__ == "__main__":
    sys.exit(main())
