"""Simulate: a seeded, realistic data set shaped so the week ending 2025-06-06 reproduces the desk's note.

``simulate(out_dir, vix_csv=...)`` writes two parts and a manifest:

* **history** (``out_dir/history/``), for :func:`signal_monitor.offline.backfill.backfill`, up to
  and including the week ending 2025-05-09: daily closes in CBOE format for ``VIX``
  (the real rows of ``vix_csv``), ``NDX`` and the two baskets ``HF_VIP`` and
  ``MOST_SHORT``; weekly flow aggregates from 2020-06 for every scope of
  ``metrics.FLOW_SCOPES`` (the rows of a fund type's sectors add up to its
  single-stock row and so on: they are sums of one set of finer cells); daily
  exposure aggregates from 2020-06 for every whole-fund scope and the sector,
  sub-industry and instrument-type slices; the weekly CFTC series
  ``cftc_vix_futures_net`` as observations;
* **the stream** (``out_dir/*.jsonl``), the four weeks ending 2025-05-16 .. 2025-06-06
  as individual events in the JSON contract of :mod:`signal_monitor.streams.events`,
  each file sorted by ``ts``: ``trades.jsonl`` (a few thousand fills of 200 funds),
  ``exposures.jsonl`` (one snapshot per fund per trading day, from 15 minutes before the close,
  with sector / sub-industry / instrument-type breakdowns that add up to the fund's
  totals), ``quotes.jsonl`` (official ``close`` quotes at the session's close, 16:00 US/Eastern, for VIX,
  NDX, HF_VIP and MOST_SHORT, and a few intraday ``trade`` quotes; the VIX closes are
  the real ones) and ``observations.jsonl`` (the weekly CFTC points);
* ``manifest.json``: the files, the backfill arguments and the target figures.

How the books are built: 200 funds in six (fund type, strategy) groups; per group
and day a NAV, a long and a short MV (from gross and net leverage); instrument
types (``single_stock``, ``etf``, ``index``) split a fund's book, sectors split its
single-stock part (ETFs and index products are ``broad``, not sector-attributed),
and the listed sub-industries cover part of their sector (the rest is not broken
out). A fund's snapshot adds up accordingly, and the sum over funds of a group is
the group's figure, so the all-fund history rows continue seamlessly into the
stream. History exposure slices are the unscoped ones (``sector``, ``sub_industry``,
``instrument_type``); the strategy x slice scopes exist only in the stream. Flows
are designed per (fund type, sector or macro product) and week, then split into
strategies and sub-industries: the cells every aggregate row is summed from.
Amounts are USD.

Conventions worth knowing: the days are NYSE sessions (:mod:`signal_monitor.exchange_calendar`);
trades are stamped from the open to two minutes before the close, 09:30-15:58 US/Eastern
on a regular day (an event at or after a week's last close belongs to the next week); the CFTC series is as of
Tuesday and published on Friday; the desk ingests it on the following Monday at
08:00 US/Eastern, so the report as of 2025-05-27 is an event of Monday 2025-06-02
(tag ``as_of`` carries the report date) and the five weekly declines the note
describes (reports of Apr 29 .. May 27 against the week before) land in the weeks
ending 2025-05-09 .. 2025-06-06. The trading calendar is NYSE's (weekends and
exchange holidays off); the VIX keeps the real file's dates.

The target figures (see ``/work/shared/SIGNALS.md``) are designed in, and the
remaining series are kept unremarkable around the streamed weeks (no accidental
n-week highs, streaks or percentile extremes in the scopes the default rules
watch). Everything derives from ``seed`` through named ``random.Random`` streams:
the same seed gives the same bytes.

The package: ``universe`` (the desk's dates, sectors, symbols and fund groups),
``days`` (the trading days and weeks, the random streams, the funds), one
generator per kind of data (``prices``, ``exposures``, ``flows``,
``observations``), ``targets`` (the note's figures as generated), ``manifest``
(the manifest and the file writers), and ``core``, whose :func:`simulate` runs
them in order.
"""

from signal_monitor.exchange_calendar import holidays as nyse_holidays
from signal_monitor.exchange_calendar import trading_days
from signal_monitor.offline.simulate.core import simulate
from signal_monitor.offline.simulate.errors import SimulateError
from signal_monitor.offline.simulate.manifest import Manifest
from signal_monitor.offline.simulate.universe import HISTORY_END, NOTE_WEEK, STREAM_WEEKS

__all__ = [
    "Manifest", "SimulateError", "simulate", "trading_days", "nyse_holidays",
    "NOTE_WEEK", "STREAM_WEEKS", "HISTORY_END",
]
