"""A report table as CSV, XLSX or printable HTML, in Vietnamese (default) or English."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from lienthong.errors import InvalidInput
from services.reporting.tables import LANGUAGES, Table

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


@dataclass(frozen=True)
class Exported:
    filename: str
    content_type: str
    content: bytes


def check_format(format_: str, language: str) -> tuple[str, str]:
    format_ = format_.lower() or "xlsx"
    language = language.lower() or "vi"
    if format_ not in FORMATS:
        raise InvalidInput(
            "export.format",
            f"Định dạng {format_!r} không hỗ trợ; chọn: {', '.join(FORMATS)}.",
            f"Format {format_!r} is not supported; choose: {', '.join(FORMATS)}.",
        )
    if language not in LANGUAGES:
        raise InvalidInput(
            "export.language",
            f"Ngôn ngữ {language!r} không hỗ trợ; chọn: vi, en.",
            f"Language {language!r} is not supported; choose: vi, en.",
        )
    return format_, language


def export(table: Table, format_: str, language: str, *, stem: str) -> Exported:
    render = {"csv": _csv, "xlsx": _xlsx, "html": _html}[format_]
    return Exported(f"{stem}.{format_}", FORMATS[format_], render(table, language))


def _csv(table: Table, language: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header(language) for c in table.columns])
    writer.writerows(table.cells(language))
    # The byte-order mark makes spreadsheet programs read the Vietnamese letters as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx(table: Table, language: str) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = table.name[:31]
    sheet.append([table.title(language)])
    sheet.append([table.subtitle(language)])
    sheet.append([])
    sheet.append([c.header(language) for c in table.columns])
    header_row = sheet.max_row
    for row in table.cells(language):
        sheet.append(row)
    if table.note(language):
        sheet.append([])
        sheet.append([table.note(language)])
    sheet["A1"].font = Font(bold=True, size=14)
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    for index, column in enumerate(table.columns, start=1):
        longest = max(
            [len(column.header(language))] + [len(str(r[index - 1])) for r in table.cells(language)]
        )
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(8, longest + 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_STYLE = """
body { font-family: "Times New Roman", serif; margin: 2em; }
h1 { font-size: 16pt; margin-bottom: 0.2em; }
p.subtitle { margin-top: 0; }
table { border-collapse: collapse; width: 100%; font-size: 11pt; }
th, td { border: 1px solid #444; padding: 3px 6px; vertical-align: top; }
th { background: #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
@page { size: A4 landscape; margin: 15mm; }
@media print { body { margin: 0; } thead { display: table-header-group; } tr { page-break-inside: avoid; } }
"""


def _html(table: Table, language: str) -> bytes:
    e = html.escape
    head = "".join(f"<th>{e(c.header(language))}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{e(str(v))}</td>' if column.numeric else f"<td>{e(str(v))}</td>"
            for column, v in zip(table.columns, row, strict=True)
        )
        + "</tr>"
        for row in table.cells(language)
    )
    note = f"<p>{e(table.note(language))}</p>" if table.note(language) else ""
    page = (
        f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
        f"<title>{e(table.title(language))}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{e(table.title(language))}</h1><p class="subtitle">{e(table.subtitle(language))}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</body></html>"
    )
    return page.encode("utf-8")
