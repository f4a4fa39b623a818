"""Charts of alerts: the series a rule read around the period that fired, its threshold or band, the fired point.

* :mod:`signal_monitor.charts.data`: :func:`~signal_monitor.charts.data.chart_data` reads the chart of one
  alert (or one rule, scope and period) from the state store; the PNG and the dashboard's interactive
  chart both draw what it returns, with every figure already formatted by :mod:`signal_monitor.format`.
* :mod:`signal_monitor.charts.render`: :func:`~signal_monitor.charts.render.render_png` draws it with
  matplotlib's Agg backend, imported on the first chart drawn (start-up and the command line never load it).
"""
