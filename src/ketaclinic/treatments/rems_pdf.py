"""The REMS monitoring form as a PDF for filing (fpdf2, no system dependencies)."""

from fpdf import FPDF

from ketaclinic.knowledge.medication_groups import medication_groups
from ketaclinic.knowledge.rems import RemsForm

TITLE = "SPRAVATO REMS - Patient Monitoring Form (data for filing)"


def _yes(value: bool | None) -> str:
    return "not yet known" if value is None else ("Yes" if value else "No")


def render_pdf(form: RemsForm, *, filed_by: str = "", filed_at: str = "") -> bytes:
    """The form's answers laid out for filing."""
    pdf = FPDF(format="Letter")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, f"Due by {form.due_by.isoformat()} (within 7 days of the session).",
             new_x="LMARGIN", new_y="NEXT")
    groups = medication_groups()
    rows = [
        ("Patient", form.patient_name), ("Date of birth", form.birth_date.isoformat()),
        ("Sex", form.sex),
        *[(f"Concomitant {groups[k].title}", _yes(v)) for k, v in form.concomitant.items()],
        ("Monitoring provider", form.monitoring_provider), ("Site", form.site),
        ("Session date", form.session_date.isoformat()), ("Dose", f"{form.dose_mg:g} mg"),
        ("Lot number", form.lot_number),
        ("Minutes from first device to end of monitoring",
         str(form.minutes_first_device_to_end_of_monitoring or "not yet known")),
        ("Minutes until ready to leave", str(form.minutes_until_ready_to_leave or "not yet known")),
        ("Vitals acceptable before dosing", _yes(form.vitals_acceptable_before_dosing)),
        ("Vitals acceptable at discharge", _yes(form.vitals_acceptable_at_discharge)),
        ("BP before dosing", form.bp_before_dosing), ("BP at 40 minutes", form.bp_at_40_min),
        ("BP before discharge", form.bp_before_discharge),
        ("Sedation", _yes(form.sedation)), ("Dissociation", _yes(form.dissociation)),
        ("Respiratory depression", _yes(form.respiratory_depression)),
    ]
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(90, 7, label, border="B")
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 7, value, border="B", new_x="LMARGIN", new_y="NEXT")
    if filed_by:
        pdf.ln(4)
        pdf.cell(0, 6, f"Filed by {filed_by} at {filed_at}.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
