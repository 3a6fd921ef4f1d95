"""Render a case's 授权书 and 委托书 as PDF bytes for a given stamp (viewer copy, printed copy, archived copy)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.documents import authorisation
from engine.documents import entrustment
from engine.documents import pdf
from engine.models.case import Household


def authorisation_pdf(session: Session, household: Household, stamp: pdf.Stamp) -> bytes:
    return pdf.render(title=authorisation.title(session, household), header=f"授权书 · {household.case_no}",
                      story=authorisation.story(session, household), stamp=stamp, subject=household.case_no)


def entrustment_pdf(session: Session, household: Household, stamp: pdf.Stamp) -> bytes:
    """The letter of the household's entrustment (one letter covers the whole batch)."""
    letter = household.entrustment
    return pdf.render(title=entrustment.TITLE, header=f"委托书 · {letter.number}",
                      story=entrustment.story(session, letter), stamp=stamp, subject=letter.number)
