"""Benchmarks of the monitor against its baselines, all measured in one run (``python -m bench``).

At the top: that run (``__main__``) and the modules it needs; :mod:`bench.slack_receiver`, the fake Slack
(the fault campaign's too). ``bench.lab``: tools to find and measure a change. ``bench/tests``: tests of
this code, run by ``make test``.
"""
