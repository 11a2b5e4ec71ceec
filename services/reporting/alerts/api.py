"""ListAlerts at the gRPC edge: check the request (bilingual refusals) and map the alerts to protobuf."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from lienthong.dates import parse_date
from lienthong.errors import InvalidInput
from lienthong_contracts.reporting.v1 import reporting_pb2
from services.reporting.alerts.model import RULE_NAMES, Alert, AlertQuery
from services.reporting.unit_filter import checked_unit


def alert_query(request: reporting_pb2.ListAlertsRequest, *, today: date) -> AlertQuery:
    as_of = parse_date(request.as_of, field="as_of") if request.as_of else today
    province, communes = checked_unit(request.province_code, request.commune_codes)
    rules = tuple(dict.fromkeys(request.rules))
    unknown = [name for name in rules if name not in RULE_NAMES]
    if unknown:
        raise InvalidInput(
            "rules.unknown",
            f"Không có quy tắc cảnh báo {unknown[0]!r}; các quy tắc: {', '.join(RULE_NAMES)}.",
            f"There is no alert rule {unknown[0]!r}; the rules are: {', '.join(RULE_NAMES)}.",
        )
    return AlertQuery(as_of=as_of, province_code=province, commune_codes=communes, rules=rules)


def alert_list(query: AlertQuery, alerts: Sequence[Alert]) -> reporting_pb2.AlertList:
    return reporting_pb2.AlertList(
        as_of=query.as_of.isoformat(),
        alerts=[
            reporting_pb2.Alert(
                rule=a.rule,
                law_version=a.law_version,
                pseudonym=a.pseudonym,
                commune_code=a.commune_code,
                commune_name=a.commune_name,
                province_code=a.province_code,
                since=a.since.isoformat(),
                due=a.due.isoformat(),
                days_overdue=a.days_overdue,
                owner_department=a.owner_department,
                message_vi=a.message_vi,
                message_en=a.message_en,
                record_id=a.record_id,
            )
            for a in alerts
        ],
    )
