"""Contact details of a person in aftercare, read from the registry on demand and never stored here."""

from __future__ import annotations

from dataclasses import dataclass

from lienthong.audit import AuditLog
from services.aftercare import storage
from services.aftercare.registry_client import RegistryDirectory


@dataclass(frozen=True)
class Contact:
    case_id: str
    full_name: str
    date_of_birth: str
    commune_code: str


async def contact_details(
    audit: AuditLog,
    directory: RegistryDirectory,
    *,
    case_id: str,
    officer_id: str,
    purpose: str,
) -> Contact:
    # Aftercare's own record of the read is committed before anyone sees the data, as for every read.
    async with audit.transaction() as session:
        case = await storage.get_case(session, case_id)
        person = await storage.get_person(session, case.person_id)
        await audit.record(
            session,
            officer_id=officer_id,
            purpose=purpose,
            subject=person.pseudonym,
            record_id=case_id,
            fields="registry:full_name,date_of_birth,commune_code",
        )
    record = await directory.find(person.pseudonym, officer_id=officer_id, purpose=purpose)
    return Contact(case_id, record.full_name, record.date_of_birth, record.commune_code)
