"""The raw gRPC anchor's server: grpc.aio, one unary method on raw bytes, answered from memory.

``python -m bench.grpc_echo`` prints ``{"port": N}`` once it serves on a free loopback port, then serves
until SIGTERM. No protobuf, no interceptor, no database: what grpc.aio itself costs per round trip.
"""

from __future__ import annotations

import asyncio
import json
import signal

import grpc

METHOD = "/bench.Echo/Echo"


async def _echo(request: bytes, _context) -> bytes:
    return request


async def main() -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(json.dumps({"port": port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=1)


if __name__ == "__main__":
    asyncio.run(main())
