"""lienthong plumbing: settings, storage, outbox/inbox, bus, metrics, pseudonyms and input validation.

Nothing here knows a domain word; the services in ``services/`` hold the domain. The operator tooling
(``lienthong.cli``, ``lienthong.localrun``, ``lienthong.demo``) talks to the services only through the
contracts generated from ``proto/``.
"""
