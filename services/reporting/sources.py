"""The department streams reporting reads, and the durable consumer it keeps on each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    stream: str
    consumer: str
    filter_subject: str

    @property
    def department(self) -> str:
        return self.filter_subject.removesuffix(".>")


SOURCES = (
    Source("REGISTRY", "reporting-registry", "registry.>"),
    Source("HEALTH", "reporting-health", "health.>"),
    Source("REHAB", "reporting-rehab", "rehab.>"),
    Source("AFTERCARE", "reporting-aftercare", "aftercare.>"),
)
# Dead letters of all four consumers share DLQ_REPORTING, subjects dlq.reporting.<original subject>.
DEAD_LETTER_NAME = "reporting"
