"""Reports as files: CSV for spreadsheets and auditors' tools, PDF for the binder and inspectors."""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from ketaclinic.spreadsheet import csv_text


def cell_text(value: object, tz: Any = None) -> str:
    """One value as report text (times in the site's zone, quantities without trailing zeros)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (value.astimezone(tz) if tz else value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def to_csv(columns: Sequence[str], rows: Sequence[dict[str, Any]], tz: Any = None) -> str:
    """Rows as CSV with a header line, every cell safe to open in a spreadsheet."""
    return csv_text(columns, ([cell_text(row.get(c), tz) for c in columns] for row in rows))


def _latin1(text: str) -> str:
    # The PDF's core fonts are Latin-1; anything else prints as '?', never as an error.
    return text.encode("latin-1", "replace").decode("latin-1")


def to_pdf(title: str, lines: Sequence[str], columns: Sequence[str],
           rows: Sequence[dict[str, Any]], tz: Any = None,
           widths: Sequence[int] | None = None) -> bytes:
    """A landscape table report with a title and a few lines of context above it."""
    pdf = FPDF(orientation="L", format="Letter")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 9, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for line in lines:
        pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 7)
    with pdf.table(col_widths=tuple(widths) if widths else None, text_align="LEFT",
                   headings_style=FontFace(emphasis="BOLD"), line_height=4) as table:
        table.row([_latin1(c.replace("_", " ")) for c in columns])
        for row in rows:
            table.row([_latin1(cell_text(row.get(c), tz)) for c in columns])
    if not rows:
        pdf.cell(0, 6, "No entries.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
