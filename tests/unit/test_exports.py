"""Report tables exported as CSV, XLSX and printable HTML, Vietnamese by default, English on request."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from lienthong.errors import InvalidInput
from services.reporting import domain, exports, tables
from services.reporting.domain import Counts, Period

PERIOD = Period(date(2025, 1, 1), date(2025, 12, 31))


def management() -> tables.Table:
    counts = {
        ("00070", "01"): Counts(3, 2, {"expired": 1, "addicted": 1}, 3),
        ("00004", "01"): Counts(1, 0, {}, 1),
    }
    report = domain.build_report(PERIOD, counts, requested=(), province_code="01")
    return tables.management_table(report, "01", ())


def test_csv_has_vietnamese_headers_official_names_and_a_byte_order_mark():
    content = exports.export(management(), "csv", "vi", stem="quan-ly").content
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Xã, phường", "Mã", "Đầu kỳ", "Mới trong kỳ"]
    assert "Kết thúc: Hết thời hạn" in rows[0]
    assert {r[0] for r in rows[1:]} == {"Phường Hoàn Kiếm", "Phường Ba Đình", "Tổng cộng"}
    total = rows[-1]
    assert total[0] == "Tổng cộng" and total[2:4] == ["4", "2"]


def test_xlsx_in_english_opens_with_headers_and_numbers():
    exported = exports.export(management(), "xlsx", "en", stem="management")
    assert exported.filename == "management.xlsx"
    sheet = load_workbook(io.BytesIO(exported.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "People under management for drug use"
    assert values[1][0] == "Thành phố Hà Nội, 2025-01-01 – 2025-12-31"
    header = values[3]
    assert header[:4] == ["Commune", "Code", "At start", "New"] and "Ended: Term expired" in header
    hoan_kiem = next(row for row in values if row[1] == "00070")
    assert hoan_kiem[2:4] == [3, 2]  # numbers stay numbers
    assert sheet.freeze_panes == "A5"


def test_html_prints_and_escapes():
    page = exports.export(management(), "html", "vi", stem="x").content.decode()
    assert page.startswith("<!DOCTYPE html>") and '<html lang="vi">' in page
    assert "@media print" in page and "<th>Xã, phường</th>" in page
    assert "Phường Hoàn Kiếm" in page and "Không có họ tên" in page


@pytest.mark.parametrize(
    ("fmt", "lang", "code"), [("pdf", "vi", "export.format"), ("csv", "fr", "export.language")]
)
def test_unknown_format_or_language_is_refused(fmt, lang, code):
    with pytest.raises(InvalidInput) as refused:
        exports.check_format(fmt, lang)
    assert refused.value.code == code
    assert exports.check_format("", "") == ("xlsx", "vi")
