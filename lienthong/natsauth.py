"""NATS separation generated from the data-sharing policy: one account per department service.

Each service (registry, health, rehab, aftercare, reporting) is a NATS account with one user, identified by
an nkey (an Ed25519 key pair: the server configuration holds only public keys, each service holds its own
seed in a file of mode 0600). Accounts share nothing unless an export in one is matched by an import in
another, and every export here names its only importer, so:

* a department publishes only on its own subjects (``registry.>``) and its dead letters (``dlq.registry.>``)
  and reaches only its own account's JetStream API, for its own stream and its own ``DLQ_<NAME>`` stream;
* the owner of a stream creates, with the policy's filter, the durable consumers the policy grants on it
  (``lienthong.runtime`` does this at start, see :func:`grants_owned_by`), and exports to the receiving
  account only three things of each: its ``CONSUMER.MSG.NEXT`` (fetch), its ``CONSUMER.INFO`` (lag) and its
  ``$JS.ACK.<STREAM>.<durable>.>`` acks. The receiver imports the first two under ``JS.<STREAM>.API`` (its
  own account's JetStream would otherwise answer its ``$JS.API`` requests too) and binds to the durable
  with a JetStream context of that prefix; it cannot create, change or delete a consumer, list or read a
  stream (``STREAM.MSG.GET``, ``DIRECT.GET``) or subscribe to anything but its own ``_INBOX.>``.

Why accounts rather than users of one account: with users only, the JetStream API of the shared account
reads any stream unless every API subject is denied one by one, and ``_INBOX.>`` is shared, so one
department could subscribe to the inbox where another department's pulled messages arrive. Accounts give
each department its own subject space, inboxes and JetStream, and make a missing permission a refusal
rather than a leak. Checked against nats-server 2.15.1 by ``tests/integration/test_nats_accounts.py``.

Pure apart from writing key and configuration files; ``python -m lienthong.natsauth --help`` generates a
configuration for a deployment (``compose.yaml``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lienthong.policy import DEPARTMENTS, SERVICES, Policy, load

KEY_SUFFIX = ".nk"
# Where `lienthong nats-config` writes the configuration and keys compose.yaml mounts.
DEPLOY_DIR = Path("deploy") / "nats"


def account_of(service: str) -> str:
    return service.upper()


def stream_of(department: str) -> str:
    """The stream a department owns and publishes its events to (``registry`` -> ``REGISTRY``)."""
    return department.upper()


def dead_letter_stream_of(service: str) -> str:
    """The dead-letter stream of a service's consumers (see ``lienthong.deadletter``)."""
    return f"DLQ_{service.upper()}"


def api_prefix(stream: str) -> str:
    """Where a receiving account imports the JetStream API of the durables granted to it on ``stream``."""
    return f"JS.{stream}.API"


@dataclass(frozen=True)
class Grant:
    """One durable consumer the policy grants: ``reader`` reads ``owner``'s stream through it, filtered."""

    owner: str
    reader: str
    durable: str
    filter_subject: str

    @property
    def stream(self) -> str:
        return stream_of(self.owner)


def grants(policy: Policy, day: date) -> list[Grant]:
    return [
        Grant(owner=r.sender, reader=r.receiver, durable=r.consumer, filter_subject=r.subjects)
        for r in policy.events
        if r.in_force(day)
    ]


def grants_owned_by(policy: Policy, owner: str, day: date) -> tuple[list[Grant], list[str]]:
    """The durables ``owner`` must create on its stream, and the policy's durables no longer in force."""
    granted = [g for g in grants(policy, day) if g.owner == owner]
    names = {g.durable for g in granted}
    revoked = sorted({r.consumer for r in policy.events if r.sender == owner and r.consumer not in names})
    return granted, revoked


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def permissions(service: str, policy: Policy, day: date) -> Permissions:
    """Everything ``service``'s user may publish (subjects and JetStream API) and subscribe to."""
    own_streams = [dead_letter_stream_of(service)]
    publish = [f"dlq.{service}.>"]
    if service in DEPARTMENTS:
        own_streams.insert(0, stream_of(service))
        publish.insert(0, f"{service}.>")
    for stream in own_streams:
        publish += [f"$JS.API.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]
    # The owner creates and inspects the durables granted on its stream, and no other consumer; it deletes
    # those the policy no longer grants.
    granted, revoked = grants_owned_by(policy, service, day)
    for grant in granted:
        publish += [
            f"$JS.API.CONSUMER.CREATE.{grant.stream}.{grant.durable}",
            f"$JS.API.CONSUMER.CREATE.{grant.stream}.{grant.durable}.>",
            f"$JS.API.CONSUMER.INFO.{grant.stream}.{grant.durable}",
        ]
    publish += [f"$JS.API.CONSUMER.DELETE.{stream_of(service)}.{durable}" for durable in revoked]
    for grant in grants(policy, day):
        if grant.reader == service:
            prefix = api_prefix(grant.stream)
            publish += [
                f"{prefix}.CONSUMER.INFO.{grant.stream}.{grant.durable}",
                f"{prefix}.CONSUMER.MSG.NEXT.{grant.stream}.{grant.durable}",
                f"$JS.ACK.{grant.stream}.{grant.durable}.>",
            ]
    return Permissions(publish=tuple(publish), subscribe=("_INBOX.>",))


def exports(service: str, policy: Policy, day: date) -> list[dict]:
    found = []
    for grant in grants(policy, day):
        if grant.owner != service:
            continue
        to = [account_of(grant.reader)]
        found += [
            {"service": f"$JS.API.CONSUMER.INFO.{grant.stream}.{grant.durable}", "accounts": to},
            {
                "service": f"$JS.API.CONSUMER.MSG.NEXT.{grant.stream}.{grant.durable}",
                "response_type": "stream",
                "accounts": to,
            },
            {"service": f"$JS.ACK.{grant.stream}.{grant.durable}.>", "accounts": to},
        ]
    return found


def imports(service: str, policy: Policy, day: date) -> list[dict]:
    found = []
    for grant in grants(policy, day):
        if grant.reader != service:
            continue
        owner, prefix = account_of(grant.owner), api_prefix(grant.stream)
        for api in ("INFO", "MSG.NEXT"):
            subject = f"CONSUMER.{api}.{grant.stream}.{grant.durable}"
            found.append(
                {"service": {"account": owner, "subject": f"$JS.API.{subject}"}, "to": f"{prefix}.{subject}"}
            )
        found.append({"service": {"account": owner, "subject": f"$JS.ACK.{grant.stream}.{grant.durable}.>"}})
    return found


def _value(value: object) -> str:
    """A value in nats-server's configuration syntax (a superset of JSON)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key}: {_value(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return json.dumps(value)


def accounts_config(policy: Policy, public_keys: dict[str, str], day: date) -> str:
    """The ``accounts { … }`` block: one account per service, its user, exports and imports."""
    missing = [s for s in SERVICES if s not in public_keys]
    if missing:
        raise ValueError(f"no public key for {', '.join(missing)}")
    lines = [
        f"# Generated by lienthong.natsauth from data_sharing.toml version {policy.version}, for {day}.",
        "# Regenerate when the policy changes or a dated rule starts or ends; do not edit by hand.",
        "accounts {",
    ]
    for service in SERVICES:
        allowed = permissions(service, policy, day)
        lines += [
            f"  {account_of(service)} {{",
            "    jetstream: enabled",
            "    users: [",
            f"      {{ nkey: {json.dumps(public_keys[service])}, permissions: {{",
            "        publish: { allow: [",
            *(f"          {json.dumps(subject)}," for subject in allowed.publish),
            "        ] }",
            f"        subscribe: {{ allow: {_value(allowed.subscribe)} }}",
            "      } }",
            "    ]",
        ]
        for kind, items in (
            ("exports", exports(service, policy, day)),
            ("imports", imports(service, policy, day)),
        ):
            if items:
                lines += [f"    {kind}: [", *(f"      {_value(item)}" for item in items), "    ]"]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def server_config(
    *,
    listen: str,
    monitor: str,
    store_dir: str,
    accounts: str = "",
    sync_always: bool = True,
) -> str:
    """A whole nats-server configuration: client port, monitoring, JetStream, then ``accounts``."""
    sync = "\n  sync_interval: always" if sync_always else ""
    return (
        f"listen: {listen}\n"
        "# Monitoring (/connz, /varz, …) shows connections and subjects: loopback only.\n"
        f"http: {monitor}\n"
        f"jetstream {{\n  store_dir: {json.dumps(store_dir)}{sync}\n}}\n"
        f"{accounts}"
    )


# --- keys -------------------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def key_file(folder: Path, service: str) -> Path:
    return Path(folder) / f"{service}{KEY_SUFFIX}"


def public_key(seed_file: Path) -> str:
    import nkeys

    return nkeys.from_seed(bytearray(Path(seed_file).read_bytes().strip())).public_key.decode()


def ensure_keys(folder: Path, services: Iterable[str] = SERVICES) -> dict[str, str]:
    """A user nkey seed per service in ``folder`` (mode 0700, each file 0600), kept if already there;
    returns the public keys."""
    import nkeys

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    keys = {}
    for service in services:
        path = key_file(folder, service)
        if not path.exists():
            _write_private(path, nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER) + b"\n")
        os.chmod(path, 0o600)
        keys[service] = public_key(path)
    return keys


def generate(
    folder: Path,
    *,
    listen: str,
    monitor: str,
    store_dir: str,
    policy: Policy | None = None,
    day: date | None = None,
) -> Path:
    """Keys in ``folder/keys/`` and ``folder/nats-server.conf`` (mode 0600) for the policy in force on ``day``."""
    policy = policy or load()
    day = day or date.today()
    folder = Path(folder)
    keys = ensure_keys(folder / "keys")
    config = folder / "nats-server.conf"
    text = server_config(
        listen=listen, monitor=monitor, store_dir=store_dir, accounts=accounts_config(policy, keys, day)
    )
    _write_private(config, text.encode())
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lienthong.natsauth",
        description="Generate nats-server accounts and per-service nkeys from the data-sharing policy.",
    )
    parser.add_argument("folder", type=Path, help="where to write nats-server.conf and keys/<service>.nk")
    parser.add_argument("--listen", default="0.0.0.0:4222", help="client address (default 0.0.0.0:4222)")
    parser.add_argument("--monitor", default="127.0.0.1:8222", help="monitoring address (loopback)")
    parser.add_argument("--store-dir", default="/data", help="JetStream store folder seen by the server")
    parser.add_argument("--day", type=date.fromisoformat, default=None, help="policy day (default today)")
    args = parser.parse_args(argv)
    config = generate(
        args.folder, listen=args.listen, monitor=args.monitor, store_dir=args.store_dir, day=args.day
    )
    print(f"wrote {config} and {args.folder / 'keys'}/<service>{KEY_SUFFIX}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
