"""The agents: batch ingestion into the state, and period closing that runs the rules.

Both are plain classes driven by the Faust agents of :mod:`signal_monitor.app`
(or by replay, with no broker), so the same code runs live and over files.
"""
