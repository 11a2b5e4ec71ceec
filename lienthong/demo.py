"""The demo scenario: synthetic people of a few communes of Hà Nội (among them wards of Hà Đông) and of Lai
Châu city, fed through the registry's public gRPC API, from 2022 (Law 73/2021) on.

Everything is drawn from one seeded random generator, so a seed always gives the same people, tests,
decisions and ends (as long as none of their dates is still in the future). The people are invented:
Vietnamese names (NFC) and citizen IDs whose province, century/sex and birth-year digits agree with the
record, so the registry accepts them.
"""

from __future__ import annotations

import asyncio
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import grpc
from rich.table import Table
from vietnam_provinces import Ward

from lienthong import units
from lienthong.dates import add_years, today_in_vietnam
from lienthong.errors import InvalidInput
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import registry_pb2, registry_pb2_grpc
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc

# Where the demo's people live (official commune codes since 2025-07-01), by region: each region has its
# own weight among the people, and its communes weights within it, so that communes differ in size as they
# do in life. Hà Nội's inner wards are the bulk; three of the five wards that were Hà Đông district and the
# two wards of Lai Châu city (the units of two shipped plans) are a minority.
HA_NOI_COMMUNES: tuple[tuple[str, int], ...] = (
    ("00070", 10),  # Phường Hoàn Kiếm
    ("00004", 9),  # Phường Ba Đình
    ("00256", 14),  # Phường Hai Bà Trưng
    ("00235", 16),  # Phường Đống Đa
    ("00319", 15),  # Phường Hoàng Mai
    ("00367", 12),  # Phường Thanh Xuân
    ("00167", 11),  # Phường Cầu Giấy
    ("00640", 13),  # Xã Thanh Trì
)
HA_DONG_WARDS: tuple[tuple[str, int], ...] = (
    ("09556", 5),  # Phường Hà Đông
    ("09552", 3),  # Phường Kiến Hưng
    ("09562", 2),  # Phường Yên Nghĩa
)
LAI_CHAU_WARDS: tuple[tuple[str, int], ...] = (
    ("03408", 3),  # Phường Tân Phong
    ("03388", 2),  # Phường Đoàn Kết
)

# Province of birth registration (first three digits of the CCCD): mostly the province of residence.
_BIRTH_HA_NOI = (
    ("001", 70),
    ("022", 3),
    ("030", 2),
    ("031", 4),
    ("034", 5),
    ("036", 5),
    ("038", 5),
    ("040", 4),
    ("079", 2),
)
_BIRTH_LAI_CHAU = (("012", 70), ("011", 6), ("014", 5), ("010", 4), ("036", 3), ("001", 2))

SUBSTANCES = (
    ("methamphetamine", 44),
    ("heroin", 20),
    ("cannabis", 10),
    ("mdma", 8),
    ("ketamine", 7),
    ("amphetamine", 5),
    ("opium", 2),
    ("morphine", 2),
    ("cocaine", 1),
    ("other", 1),
)
# In the north-western border provinces opiates still come first.
_SUBSTANCES_LAI_CHAU = (
    ("heroin", 42),
    ("methamphetamine", 30),
    ("opium", 16),
    ("cannabis", 4),
    ("morphine", 3),
    ("amphetamine", 3),
    ("other", 2),
)

FAMILY_NAMES = (
    ("Nguyễn", 38),
    ("Trần", 11),
    ("Lê", 9),
    ("Phạm", 7),
    ("Hoàng", 5),
    ("Vũ", 4),
    ("Phan", 4),
    ("Đặng", 3),
    ("Bùi", 3),
    ("Đỗ", 3),
    ("Hồ", 2),
    ("Ngô", 2),
    ("Dương", 2),
    ("Lý", 1),
    ("Đinh", 2),
    ("Trịnh", 2),
)
# Lai Châu: Kinh family names and those of the Thái and Mông, the province's largest peoples.
_FAMILY_NAMES_LAI_CHAU = (
    ("Nguyễn", 14),
    ("Lò", 12),
    ("Tòng", 6),
    ("Lường", 5),
    ("Giàng", 7),
    ("Vàng", 6),
    ("Sùng", 4),
    ("Lầu", 3),
    ("Thào", 3),
    ("Trần", 5),
    ("Lê", 4),
    ("Hoàng", 4),
    ("Phạm", 3),
    ("Đỗ", 2),
)


@dataclass(frozen=True)
class Region:
    name: str
    weight: int  # share of the demo's people
    communes: tuple[tuple[str, int], ...]
    birth_provinces: tuple[tuple[str, int], ...]
    family_names: tuple[tuple[str, int], ...]
    substances: tuple[tuple[str, int], ...]
    middle_names: dict[str, tuple[str, ...]] | None = None  # by sex; default MIDDLE_NAMES


REGIONS = (
    Region("Hà Nội", 74, HA_NOI_COMMUNES, _BIRTH_HA_NOI, FAMILY_NAMES, SUBSTANCES),
    Region("Hà Đông", 18, HA_DONG_WARDS, _BIRTH_HA_NOI, FAMILY_NAMES, SUBSTANCES),
    Region(
        "Lai Châu",
        8,
        LAI_CHAU_WARDS,
        _BIRTH_LAI_CHAU,
        _FAMILY_NAMES_LAI_CHAU,
        _SUBSTANCES_LAI_CHAU,
        # "A" is the Mông men's middle name; "Văn" and "Thị" are shared with the Thái and the Kinh.
        {"male": ("Văn", "Văn", "A", "A", "Minh", "Xuân"), "female": ("Thị", "Thị", "Thị", "Thu", "Ngọc")},
    ),
)
# Every demo commune, with its weight within its region.
DEMO_COMMUNES: tuple[tuple[str, int], ...] = tuple(c for region in REGIONS for c in region.communes)

# Law 73/2021 came into force on 2022-01-01: the registry refuses acts before it, so the first positive
# tests and decisions are on or after that day.
FIRST_ACT = date(2022, 1, 1)
FIRST_DECISION = FIRST_ACT
LAST_DECISION = date(2025, 12, 31)
# Nothing in the scenario is dated after this day (nor after today).
HORIZON = date(2026, 6, 30)

END_REASONS_ADULT = (
    ("addicted", 30),
    ("compulsory_education", 18),
    ("commune_education", 14),
    ("imprisoned", 14),
    ("missing", 9),
    ("died", 5),
)
END_REASONS_MINOR = (("reform_school", 30), ("commune_education", 40), ("addicted", 30))

MIDDLE_NAMES = {
    "male": ("Văn", "Đức", "Minh", "Quang", "Hữu", "Thành", "Công", "Xuân", "Mạnh", "Tiến"),
    "female": ("Thị", "Thu", "Ngọc", "Thanh", "Minh", "Phương", "Hồng", "Kim"),
}
GIVEN_NAMES = {
    "male": (
        "Hùng",
        "Dũng",
        "Tuấn",
        "Hải",
        "Long",
        "Nam",
        "Sơn",
        "Thắng",
        "Cường",
        "Đạt",
        "Khánh",
        "Phúc",
        "Quân",
        "Trung",
        "Việt",
        "Hiếu",
        "Tùng",
        "Bình",
        "Hòa",
        "Huy",
        "Kiên",
        "Lâm",
        "Nghĩa",
        "Toàn",
    ),
    "female": ("Lan", "Hương", "Mai", "Linh", "Trang", "Hà", "Ngọc", "Thảo", "Yến", "Nhung", "Hằng", "Oanh"),
}


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def commune_name(code: str) -> str:
    try:
        return Ward.from_code(int(code)).name
    except (ValueError, KeyError, TypeError):
        return code


def _province_name(code: str) -> str:
    try:
        return units.province_name(code)
    except InvalidInput:
        return code


@dataclass(frozen=True)
class Command:
    kind: str  # "test", "decide" or "end"
    on: date
    substance: str = ""
    place: str = ""
    decision_number: str = ""
    reason: str = ""


@dataclass
class PersonPlan:
    citizen_id: str
    full_name: str
    date_of_birth: date
    sex: str  # "male" or "female"
    commune_code: str
    commands: list[Command] = field(default_factory=list)

    @property
    def command_count(self) -> int:
        return 1 + len(self.commands)  # the registration, then the rest


def _citizen_id(rng: random.Random, region: Region, born: date, sex: str, used: set[str]) -> str:
    century_digit = (born.year // 100 - 19) * 2 + (1 if sex == "female" else 0)
    while True:
        province = _pick(rng, region.birth_provinces)
        value = f"{province}{century_digit}{born.year % 100:02d}{rng.randrange(10**6):06d}"
        if value not in used:
            used.add(value)
            return value


def _full_name(rng: random.Random, region: Region, sex: str) -> str:
    middle = (region.middle_names or MIDDLE_NAMES)[sex]
    parts = (_pick(rng, region.family_names), rng.choice(middle), rng.choice(GIVEN_NAMES[sex]))
    return unicodedata.normalize("NFC", " ".join(parts))


def _day_between(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


class _Turns:
    """The regions in turn by weight (smooth weighted round-robin): any number of people gets each region's
    share, rounded, so that even a small demo has people in every plan's unit."""

    def __init__(self, regions: Sequence[Region]) -> None:
        self.regions = regions
        self.credit = [0] * len(regions)

    def next(self) -> Region:
        total = sum(region.weight for region in self.regions)
        for n, region in enumerate(self.regions):
            self.credit[n] += region.weight
        chosen = max(range(len(self.regions)), key=self.credit.__getitem__)
        self.credit[chosen] -= total
        return self.regions[chosen]


def _first_act_span(nth: int, last_decision: date) -> tuple[date, date]:
    """The year of a region's n-th person's first act: the years from FIRST_DECISION in turn, so that every
    year (and every plan's period) gets people in every region."""
    years = range(FIRST_DECISION.year, max(FIRST_DECISION.year, last_decision.year) + 1)
    year = years[nth % len(years)]
    return max(FIRST_DECISION, date(year, 1, 1)), min(last_decision, date(year, 12, 31))


class _Numbers:
    """Decision numbers "<n>/QĐ-UBND", counted per commune and year as a People's Committee does."""

    def __init__(self) -> None:
        self._counters: Counter[tuple[str, int]] = Counter()

    def next(self, commune: str, on: date) -> str:
        self._counters[(commune, on.year)] += 1
        return f"{self._counters[(commune, on.year)]}/QĐ-UBND"


def _management(
    rng: random.Random,
    plan: PersonPlan,
    decided_on: date,
    as_of: date,
    numbers: _Numbers,
    *,
    substance: str,
    place: str,
) -> date | None:
    """Append one management term (its test, decision, maybe a test during it and an early end).

    Returns its expiry date when it ran its full term, None when it ended early or is still open."""
    # Never before the law's first day (the registry refuses it), nor before the person's previous act.
    earliest = max([FIRST_ACT, *(c.on for c in plan.commands)])
    tested_on = max(earliest, decided_on - timedelta(days=rng.randint(0, 45)))
    plan.commands.append(Command("test", tested_on, substance=substance, place=place))
    plan.commands.append(
        Command("decide", decided_on, decision_number=numbers.next(plan.commune_code, decided_on))
    )
    expires_on = add_years(decided_on, 1)
    ended_on: date | None = None
    if rng.random() < 0.35:
        ended_on = decided_on + timedelta(days=rng.randint(20, 360))
        if ended_on >= expires_on or ended_on > as_of:
            ended_on = None
    minor = add_years(plan.date_of_birth, 18) > (ended_on or decided_on)
    reason = _pick(rng, END_REASONS_MINOR if minor else END_REASONS_ADULT)
    if rng.random() < 0.15:  # used again while under management
        again = decided_on + timedelta(days=rng.randint(5, 330))
        if again < (ended_on or expires_on) and again <= as_of:
            plan.commands.append(Command("test", again, substance=substance, place=place))
            if ended_on is None and rng.random() < 0.5 and again + timedelta(days=30) < expires_on:
                ended_on, reason = min(again + timedelta(days=30), as_of), "addicted"
    if ended_on is not None and ended_on > plan.commands[-1].on:
        plan.commands.append(Command("end", ended_on, reason=reason))
        return None
    return expires_on if expires_on <= as_of else None


def build_scenario(people: int = 300, seed: int = 2025, *, as_of: date | None = None) -> list[PersonPlan]:
    """``people`` synthetic people with their commands, in the order they are to be sent."""
    if people < 1:
        raise ValueError("people must be at least 1")
    as_of = min(as_of or today_in_vietnam(), HORIZON)
    last_decision = min(LAST_DECISION, as_of)
    rng = random.Random(seed)
    used: set[str] = set()
    numbers = _Numbers()
    plans: list[PersonPlan] = []
    turns = _Turns(REGIONS)
    seen: Counter[str] = Counter()  # people per region so far
    for _ in range(people):
        region = turns.next()
        first, last = _first_act_span(seen[region.name], last_decision)
        seen[region.name] += 1
        sex = "male" if rng.random() < 0.86 else "female"
        year = rng.randint(2007, 2009) if rng.random() < 0.05 else rng.randint(1968, 2005)
        born = date(year, 1, 1) + timedelta(days=rng.randrange(365))
        commune = _pick(rng, region.communes)
        plan = PersonPlan(
            citizen_id=_citizen_id(rng, region, born, sex, used),
            full_name=_full_name(rng, region, sex),
            date_of_birth=born,
            sex=sex,
            commune_code=commune,
        )
        substance = _pick(rng, region.substances)
        place = f"Công an {commune_name(commune)}"
        if rng.random() < 0.12 or last_decision < FIRST_DECISION:
            # A positive test that did not (yet) lead to a management decision.
            plan.commands.append(Command("test", _day_between(rng, first, last), substance, place))
        else:
            decided_on = _day_between(rng, first, last)
            expired = _management(rng, plan, decided_on, as_of, numbers, substance=substance, place=place)
            if expired is not None and rng.random() < 0.3:
                again = expired + timedelta(days=rng.randint(1, 120))
                if again <= last_decision:
                    _management(rng, plan, again, as_of, numbers, substance=substance, place=place)
        plans.append(plan)
    return plans


# --- feeding it through the registry's gRPC API --------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    person_id: str
    pseudonym: str


@dataclass
class LoadOutcome:
    succeeded: int = 0
    failed: int = 0
    by_kind: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    # By citizen ID, the people whose every command was accepted: the department phase walks only them.
    registered: dict[str, Registered] = field(default_factory=dict)

    def record_error(self, message: str) -> None:
        self.failed += 1
        if len(self.errors) < 20:
            self.errors.append(message)


_SEX = {"male": common_pb2.SEX_MALE, "female": common_pb2.SEX_FEMALE}
_METADATA = (("accept-language", "en"), ("x-officer-id", "demo-loader"))


async def load_scenario(
    plans: Sequence[PersonPlan],
    registry_address: str,
    *,
    concurrency: int = 20,
    on_command: Callable[[str, bool], None] | None = None,
    call_timeout: float = 30.0,
) -> LoadOutcome:
    """Send every person's commands in order, ``concurrency`` people at a time (so at most that many calls
    are in flight). A refused command stops that person's remaining commands and is counted as failed."""
    outcome = LoadOutcome()
    notify = on_command or (lambda _kind, _ok: None)
    semaphore = asyncio.Semaphore(concurrency)

    async with grpc.aio.insecure_channel(registry_address) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)

        async def call(kind: str, method, request):
            try:
                response = await method(request, timeout=call_timeout, metadata=_METADATA)
            except grpc.aio.AioRpcError as error:
                outcome.record_error(f"{kind}: {error.code().name}: {error.details()}")
                notify(kind, False)
                return None
            outcome.succeeded += 1
            outcome.by_kind[kind] += 1
            notify(kind, True)
            return response

        async def person(plan: PersonPlan) -> None:
            async with semaphore:
                registered = await call(
                    "register",
                    stub.RegisterPerson,
                    registry_pb2.RegisterPersonRequest(
                        citizen_id=plan.citizen_id,
                        full_name=plan.full_name,
                        date_of_birth=plan.date_of_birth.isoformat(),
                        sex=_SEX[plan.sex],
                        commune_code=plan.commune_code,
                    ),
                )
                if registered is None:
                    return
                management_id = ""
                for command in plan.commands:
                    if command.kind == "test":
                        response = await call(
                            "test",
                            stub.RecordPositiveDrugTest,
                            registry_pb2.RecordPositiveDrugTestRequest(
                                person_id=registered.person_id,
                                tested_on=command.on.isoformat(),
                                substance=command.substance,
                                place=command.place,
                            ),
                        )
                    elif command.kind == "decide":
                        response = await call(
                            "decide",
                            stub.IssueManagementDecision,
                            registry_pb2.IssueManagementDecisionRequest(
                                person_id=registered.person_id,
                                decision_number=command.decision_number,
                                decided_on=command.on.isoformat(),
                            ),
                        )
                        management_id = response.management_id if response is not None else ""
                    else:
                        response = await call(
                            "end",
                            stub.EndManagement,
                            registry_pb2.EndManagementRequest(
                                management_id=management_id,
                                ended_on=command.on.isoformat(),
                                reason=command.reason,
                            ),
                        )
                    if response is None:
                        return
                outcome.registered[plan.citizen_id] = Registered(registered.person_id, registered.pseudonym)

        await asyncio.gather(*(person(plan) for plan in plans))
    return outcome


async def ingest_status(reporting_address: str, timeout: float = 5.0) -> reporting_pb2.IngestStatus:
    async with grpc.aio.insecure_channel(reporting_address) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return await stub.GetIngestStatus(reporting_pb2.IngestStatusRequest(), timeout=timeout)


async def wait_for_ingest(
    reporting_address: str,
    expected: int,
    *,
    timeout: float = 300.0,
    on_progress: Callable[[reporting_pb2.IngestStatus], None] | None = None,
    settle: float = 1.0,
) -> reporting_pb2.IngestStatus:
    """Poll GetIngestStatus until reporting has caught up.

    A reporting that lists its source streams is caught up when it says so (``caught_up``) on two polls
    ``settle`` seconds apart: a single poll can fall between a service committing an event and its relay
    publishing it, or between one department's event and the event another department answers it with.
    An older reporting without ``sources``: until it has applied (or dead-lettered) ``expected`` events.
    Tolerates reporting being briefly unavailable (a restart)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: reporting_pb2.IngestStatus | None = None
    caught_up_before = False
    async with grpc.aio.insecure_channel(reporting_address) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        while loop.time() < deadline:
            try:
                last = await stub.GetIngestStatus(reporting_pb2.IngestStatusRequest(), timeout=5)
            except grpc.aio.AioRpcError:
                caught_up_before = False
                await asyncio.sleep(0.5)
                continue
            if on_progress:
                on_progress(last)
            if last.sources:
                if last.caught_up and caught_up_before:
                    return last
                caught_up_before = last.caught_up
                await asyncio.sleep(settle if last.caught_up else 0.25)
                continue
            if last.events_applied + last.events_dead_lettered >= expected:
                return last
            await asyncio.sleep(0.25)
    if last is not None and last.sources:
        pending = ", ".join(f"{s.stream} {s.pending}" for s in last.sources)
        raise TimeoutError(
            f"reporting did not catch up within {timeout:.0f}s (events pending per stream: {pending}); "
            "see its log"
        )
    applied = last.events_applied if last else "unknown"
    raise TimeoutError(f"reporting applied {applied} of {expected} events within {timeout:.0f}s; see its log")


async def management_report(
    reporting_address: str,
    period_start: date,
    period_end: date,
    *,
    commune_codes: Sequence[str] = (),
    province_code: str = "",
) -> reporting_pb2.ManagementReport:
    async with grpc.aio.insecure_channel(reporting_address) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return await stub.GetManagementReport(
            reporting_pb2.ManagementReportRequest(
                period_start=period_start.isoformat(),
                period_end=period_end.isoformat(),
                commune_codes=list(commune_codes),
                province_code=province_code,
            ),
            timeout=30,
        )


# --- the report as a terminal table -----------------------------------------------------------------

REASON_LABELS = {
    "expired": ("Hết hạn", "expired"),
    "addicted": ("Nghiện", "addicted"),
    "commune_education": ("GD tại xã", "commune ed."),
    "reform_school": ("Giáo dưỡng", "reform sch."),
    "compulsory_education": ("GD bắt buộc", "compuls. ed."),
    "imprisoned": ("Phạt tù", "prison"),
    "died": ("Chết", "died"),
    "missing": ("Mất tích", "missing"),
}
TOTAL_LABEL = "Tổng cộng / Total"


def _reasons(row: reporting_pb2.ManagementRow) -> dict[str, int]:
    return {item.reason: int(item.count) for item in row.ended_in_period}


# Below this terminal width the one-column-per-reason table no longer fits: reasons go into one cell.
WIDE_TABLE_COLUMNS = 140


def report_table(
    report: reporting_pb2.ManagementReport, *, title: str | None = None, compact: bool = False
) -> Table:
    """Rows per commune (official names), ended by reason, and a total row.

    Wide: one column per end reason. ``compact`` (for terminals narrower than ``WIDE_TABLE_COLUMNS``): the
    reasons of each row in one cell, so the table fits 80 columns."""
    rows = sorted(report.rows, key=lambda r: (r.province_code, r.commune_code))
    seen: Counter[str] = Counter()
    for row in [*rows, report.total]:
        seen.update({k: v for k, v in _reasons(row).items() if v})
    reasons = ["expired", *(r for r in REASON_LABELS if r != "expired" and seen[r])]
    reasons += sorted(r for r in seen if r not in REASON_LABELS)

    start, end = date.fromisoformat(report.period_start), date.fromisoformat(report.period_end)
    period = f"{start:%d/%m/%Y} – {end:%d/%m/%Y}"
    table = Table(
        title=title
        or (
            f"Người bị quản lý do sử dụng trái phép chất ma túy, {period}\n"
            f"People under management for illegal drug use, {period}"
        ),
        caption=(
            "Ended by reason (kết thúc theo lý do): "
            + ", ".join(
                f"{REASON_LABELS[r][0]} = {REASON_LABELS[r][1]}" for r in reasons if r in REASON_LABELS
            )
            if compact
            else "Cyan columns: ended in the period by reason (kết thúc trong kỳ theo lý do); "
            "expired = the 1-year term ran out."
        ),
        header_style="bold",
        title_style="bold",
    )
    table.add_column("Xã, phường\ncommune", no_wrap=True)
    if not compact:
        table.add_column("Mã\ncode", no_wrap=True)
    table.add_column("Đầu kỳ\nat start", justify="right")
    table.add_column("Mới\nnew", justify="right")
    if compact:
        table.add_column("Kết thúc theo lý do\nended, by reason", style="cyan")
    else:
        for reason in reasons:
            vi, en = REASON_LABELS.get(reason, (reason, reason))
            table.add_column(f"{vi}\n{en}", justify="right", style="cyan")
    table.add_column("Cộng\ntotal" if compact else "Tổng kết thúc\nended total", justify="right")
    table.add_column("Cuối kỳ\nat end", justify="right", style="bold")

    def cells(row: reporting_pb2.ManagementRow) -> list[str]:
        by_reason = _reasons(row)
        if compact:
            ended = [
                ", ".join(
                    f"{REASON_LABELS.get(r, (r,))[0]} {by_reason[r]}" for r in reasons if by_reason.get(r)
                )
            ]
        else:
            ended = [str(by_reason.get(reason, 0)) for reason in reasons]
        return [
            str(row.at_period_start),
            str(row.new_in_period),
            *ended,
            str(row.ended_total),
            str(row.at_period_end),
        ]

    provinces = list(dict.fromkeys(row.province_code for row in rows))
    for province in provinces:
        if len(provinces) > 1:  # a heading row per province: ward names repeat across provinces
            if province != provinces[0]:
                table.add_section()
            heading = _province_name(province)
            table.add_row(heading, *([] if compact else [province]), style="italic")
        for row in (r for r in rows if r.province_code == province):
            name = row.commune_name or commune_name(row.commune_code)
            table.add_row(name, *([] if compact else [row.commune_code]), *cells(row))
    table.add_section()
    table.add_row(TOTAL_LABEL, *([] if compact else [""]), *cells(report.total), style="bold")
    return table
