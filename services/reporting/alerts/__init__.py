"""Work lists: people falling through the gaps between departments, by commune, pseudonymous.

``rules.toml`` holds the thresholds, owners and messages (data); ``rulebook`` reads and checks it;
``domain`` and ``checks`` decide from steps alone (pure); ``queries`` reads the steps; ``api`` maps the
gRPC request and answer.
"""
