"""``python -m signal_monitor``: the command line."""

from signal_monitor.cli import main

main()
