"""gRPC server factory: health checking, reflection, and the edge where errors become status codes.

Every refusal leaves as a specific status with a message in the caller's language (``accept-language``
metadata: ``vi`` by default, ``en``), and trailing metadata ``error-code``, ``message-en`` and
``message-vi-bin`` (UTF-8, so a client can show either). A request that is not even valid protobuf is an
INVALID_ARGUMENT, not an INTERNAL error. This holds for unary methods and for server-streaming ones written as
async generators.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, Counter, Histogram

from lienthong.errors import DomainError, ErrorKind
from lienthong.ids import uuid7

log = logging.getLogger(__name__)

STATUS_OF = {
    ErrorKind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.INTEGRITY: grpc.StatusCode.DATA_LOSS,
}

_UNDECODABLE = object()


def caller_language(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "accept-language" and isinstance(value, str):
            return "en" if value.lower().startswith("en") else "vi"
    return "vi"


# The id of the call being served: the caller's x-request-id when it is a plain token, else a new one.
# Audit records carry it so one request can be followed across departments.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("lienthong_request_id", default="")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)


def request_id_of(context: grpc.aio.ServicerContext) -> str:
    given = metadata_value(context, "x-request-id")
    return given if _REQUEST_ID.fullmatch(given) else uuid7()


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str:
    """One text metadata value of the call ("" when absent)."""
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return ""


async def abort_with(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    context.set_trailing_metadata(
        (
            ("error-code", error.code),
            ("message-en", error.en.encode("ascii", "replace").decode()),
            ("message-vi-bin", error.vi.encode("utf-8")),
        )
    )
    await context.abort(STATUS_OF[error.kind], error.message(caller_language(context)))


class EdgeInterceptor(grpc.aio.ServerInterceptor):
    """Maps DomainError to status codes, refuses undecodable requests, and counts every call."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._calls = Counter(
            "lienthong_grpc_requests",
            "gRPC calls by method and status code",
            ["method", "code"],
            registry=registry,
        )
        self._seconds = Histogram(
            "lienthong_grpc_request_seconds",
            "gRPC call latency",
            ["method"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.unary_stream is not None:
            return self._server_streaming(handler, handler_call_details.method)
        if handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        behaviour = handler.unary_unary

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            REQUEST_ID.set(request_id_of(context))  # each call runs in its own task: no reset needed
            try:
                if request is _UNDECODABLE:
                    raise _undecodable(method)
                return await behaviour(request, context)
            except DomainError as error:
                code = STATUS_OF[error.kind]
                await abort_with(context, error)
            except Exception:
                code = context.code() or grpc.StatusCode.INTERNAL
                if code == grpc.StatusCode.INTERNAL:
                    log.exception("unexpected error in %s", method)
                raise
            finally:
                self._calls.labels(method, _name(code)).inc()
                self._seconds.labels(method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=_safe(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def _server_streaming(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """The same edge for a server-streaming method written as an async generator: a DomainError raised
        before or between the messages ends the call with its status and bilingual message."""
        behaviour = handler.unary_stream

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                if request is _UNDECODABLE:
                    raise _undecodable(method)
                async for response in behaviour(request, context):
                    yield response
            except DomainError as error:
                code = STATUS_OF[error.kind]
                await abort_with(context, error)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                code = context.code() or grpc.StatusCode.INTERNAL
                if code == grpc.StatusCode.INTERNAL:
                    log.exception("unexpected error in %s", method)
                raise
            finally:
                self._calls.labels(method, _name(code)).inc()
                self._seconds.labels(method).observe(time.perf_counter() - started)

        return grpc.unary_stream_rpc_method_handler(
            wrapped,
            request_deserializer=_safe(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )


def _safe(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def safe_deserialize(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            return _UNDECODABLE

    return safe_deserialize


def _name(code: Any) -> str:
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


def _undecodable(method: str) -> DomainError:
    from lienthong.errors import InvalidInput

    return InvalidInput(
        "request.undecodable",
        f"Yêu cầu gửi tới {method} không phải thông điệp protobuf hợp lệ.",
        f"The request to {method} is not a valid protobuf message.",
    )


async def start_server(
    *,
    host: str,
    port: int,
    registry: CollectorRegistry,
    add_servicers: Iterable[Callable[[grpc.aio.Server], None]],
    service_names: Iterable[str],
    initially_serving: bool = True,
) -> tuple[grpc.aio.Server, int, HealthServicer]:
    """Start a grpc.aio server; return it, the port it bound (``port=0`` picks a free one) and its health."""
    server = grpc.aio.server(interceptors=[EdgeInterceptor(registry)])
    for add in add_servicers:
        add(server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = list(service_names)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    await server.start()
    await set_serving(health, names, serving=initially_serving)
    return server, bound, health


async def set_serving(health: HealthServicer, service_names: Iterable[str], *, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *service_names]:
        await health.set(name, status)
