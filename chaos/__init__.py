"""The fault campaign (``python -m chaos``, ``make chaos``): kills, a Redis restart and a Slack outage under a live stream."""
