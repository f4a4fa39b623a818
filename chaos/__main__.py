"""``python -m chaos [SCENARIO]``: run the fault campaign (``CHAOS_QUICK=1`` for a smaller one) or a targeted scenario."""

import sys

from chaos.campaign import main
from signal_monitor.embedded.process import exit_on_sigterm

if __name__ == "__main__":
    exit_on_sigterm()  # a stopped campaign stops its broker, Redis and workers too
    sys.exit(main())
