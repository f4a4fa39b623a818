"""Offline tools beside the streaming core: backfill history, replay files through the rules, simulate a data set, the demo."""
