"""Worker status: the record each worker publishes (``record``), how it is gathered (``collector``),
published (``publisher``), read back (``reader``) and shown (``view``, ``cli``)."""
