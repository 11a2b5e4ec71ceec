"""The department services. Each is its own process and owns its own database; they share only the
contracts in ``proto/`` and the plumbing in ``lienthong``, never each other's code."""
