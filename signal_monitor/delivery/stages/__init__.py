"""The delivery pipeline's stages, one per file, in the order an alert passes them.

``admission`` (routing, silences, inhibition, realert; queue or buffer in Redis), ``grouping`` (a route's
buffered alerts become digest messages after its ``group_wait``) and ``sending`` (each destination's queue
drained in order under a lease: pacing, retries, parking). The stages hand work on through the outbox in
Redis, not in memory, so any worker's ``sending`` may send what another worker's ``admission`` queued;
``message`` is the shape of what they hand on, ``guard`` keeps a cancellation out of a Redis step.
``signal_monitor.delivery.dispatcher`` composes them.
"""
