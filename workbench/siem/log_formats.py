"""The log lines the SIEM's collectors parse, as the components are told to write them.

Apart from ``collectors`` (which needs Polars) because the hub's config sets
``HUB_LOG_FORMAT`` at every hub start, and a restarted hub should not load Polars for a string.
"""

HUB_LOG_FORMAT = ("%(log_color)s[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s %(module)s:%(lineno)d]"
                  "%(reset)s %(message)s")
"""The hub's log line (``--JupyterHub.log_format``). JupyterHub's default uses tornado's
``%(color)s``, which breaks once ``dask_gateway_server`` swaps traitlets' formatter class
for colorlog's (every hub line then fails to format); this one works with both."""

DASHBOARD_LOG_FORMAT = "[%(levelname)1.1s %(asctime)s.%(msecs)03d %(name)s] %(message)s"
"""The line the dashboards server should log with (``dashboard_logging``)."""
