"""The bench's lab: tools to find and measure a change, beside the headline run (``python -m bench``).

``python -m bench.lab.compare`` (the worker with variants patched in, through :mod:`bench.lab.variant`),
``bench.lab.profile`` (py-spy on a worker), ``bench.lab.micro`` (µs per event of the hot path against
:mod:`bench.lab.fastpath`) and ``bench.lab.dedup`` (the trade-id dedup at any git revision). They use the
headline run's modules; the headline run uses none of them.
"""
