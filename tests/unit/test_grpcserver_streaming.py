"""The gRPC edge also maps refusals of server-streaming methods (async generators) to status codes."""

from __future__ import annotations

import grpc
import pytest

from lienthong import grpcserver
from lienthong.errors import InvalidInput, PreconditionFailed
from lienthong.metrics import new_registry

METHOD = "/test.Counter/Count"


async def count(request: bytes, context):
    n = int(request.decode())
    if n < 0:
        raise InvalidInput("n.negative", "n không được âm.", "n must not be negative.")
    for i in range(n):
        yield str(i).encode()
    raise PreconditionFailed("n.busy", "Đang bận.", "Busy after the messages.")


def add(server: grpc.aio.Server) -> None:
    handler = grpc.unary_stream_rpc_method_handler(
        count, request_deserializer=lambda b: b, response_serializer=lambda b: b
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("test.Counter", {"Count": handler}),)
    )


@pytest.fixture
async def channel():
    registry = new_registry()
    server, port, _health = await grpcserver.start_server(
        host="127.0.0.1", port=0, registry=registry, add_servicers=[add], service_names=["test.Counter"]
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, registry
    await server.stop(None)


async def test_a_refusal_before_or_after_messages_ends_the_stream_with_its_status(channel):
    channel, registry = channel
    stream = channel.unary_stream(METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    call = stream(b"2", metadata=[("accept-language", "en")])
    assert [m async for m in _read(call, 2)] == [b"0", b"1"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == "Busy after the messages."

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in stream(b"-1"):
            pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "n không được âm."
    assert dict(refused.value.trailing_metadata())["error-code"] == "n.negative"
    counted = registry.get_sample_value(
        "lienthong_grpc_requests_total", {"method": METHOD, "code": "INVALID_ARGUMENT"}
    )
    assert counted == 1


async def _read(call, n: int):
    for _ in range(n):
        yield await call.read()
