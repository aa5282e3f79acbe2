"""The SIEM: the platform's logs and the audit trail collected into ``security.events``,
detectors over them, alerts to administrators through the configured sinks.

An application over the governance layer (``workbench.security``: policy, gate, audit,
accounts), which it reads and never the other way round.
"""
