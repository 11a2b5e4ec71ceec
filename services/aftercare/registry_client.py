"""The registry's directory, as aftercare sees it: resolve a pseudonym to a person through the police's
audited gRPC API. The officer and purpose of aftercare's own caller travel with the request, and aftercare
declares itself as the asking department, so the registry's audit shows who saw what and why."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from lienthong.errors import NotFound, Unavailable
from lienthong_contracts.registry.v1 import registry_pb2, registry_pb2_grpc

DEPARTMENT = "aftercare"


@dataclass
class RegistryDirectory:
    target: str
    timeout_seconds: float = 5.0

    async def find(self, pseudonym: str, *, officer_id: str, purpose: str) -> registry_pb2.Person:
        metadata = (("x-officer-id", officer_id), ("x-purpose", purpose), ("x-department", DEPARTMENT))
        async with grpc.aio.insecure_channel(self.target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            try:
                return await stub.FindPersonByPseudonym(
                    registry_pb2.FindPersonByPseudonymRequest(pseudonym=pseudonym),
                    metadata=metadata,
                    timeout=self.timeout_seconds,
                )
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    raise NotFound(
                        "contact.not_in_registry",
                        "Sổ đăng ký của công an không có người này (ví dụ người tự nguyện điều trị methadone).",
                        "The police registry does not hold this person (e.g. a voluntary methadone patient).",
                    ) from None
                if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise Unavailable(
                        "registry.unavailable",
                        f"Không liên lạc được với sổ đăng ký ({self.target}); hãy thử lại sau.",
                        f"The registry at {self.target} does not answer; try again later.",
                    ) from None
                raise
