# The signal-monitor worker image. Build: docker build -t signal-monitor . ; run: see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the package (and its console script signal-monitor) from the build context.
# README* is optional (pyproject names README.md); the wildcard keeps the build working without it.
COPY pyproject.toml README* /tmp/src/
COPY signal_monitor /tmp/src/signal_monitor
RUN pip install /tmp/src && rm -rf /tmp/src

# The NYSE calendar's table (exchange_calendars' XNYS), built into the image so a worker starts without building it.
ENV SM_CALENDAR_CACHE=/opt/signal-monitor/calendar
RUN python -m signal_monitor.exchange_calendar && chmod -R a+rX /opt/signal-monitor

# An unprivileged user; its home is the data directory (SM_DATA_DIR), a volume in docker-compose.yml.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --create-home --home-dir /var/lib/signal-monitor \
       --shell /usr/sbin/nologin monitor
ENV SM_DATA_DIR=/var/lib/signal-monitor
WORKDIR /var/lib/signal-monitor
USER 10001:10001

ENTRYPOINT ["signal-monitor"]
CMD ["worker"]
