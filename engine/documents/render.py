"""Render a case's 授权书 and 委托书, and a recheck's 复核委托书 and 复核表, as PDF bytes for a given stamp
(viewer copy, printed copy, archived copy)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.documents import authorisation
from engine.documents import entrustment
from engine.documents import pdf
from engine.documents import recheck as recheck_docs
from engine.models.case import Household
from engine.models.recheck import Recheck


def authorisation_pdf(session: Session, household: Household, stamp: pdf.Stamp) -> bytes:
    return pdf.render(title=authorisation.title(session, household), header=f"授权书 · {household.case_no}",
                      story=authorisation.story(session, household), stamp=stamp, subject=household.case_no)


def entrustment_pdf(session: Session, household: Household, stamp: pdf.Stamp) -> bytes:
    """The letter of the household's entrustment (one letter covers the whole batch)."""
    letter = household.entrustment
    return pdf.render(title=entrustment.TITLE, header=f"委托书 · {letter.number}",
                      story=entrustment.story(session, letter), stamp=stamp, subject=letter.number)


def recheck_entrustment_pdf(session: Session, recheck: Recheck, stamp: pdf.Stamp) -> bytes:
    """The 复核委托书 of a recheck the department decided to re-verify (its entrustment must exist)."""
    letter = recheck.entrustment
    assert letter is not None
    return pdf.render(title=recheck_docs.ENTRUSTMENT_TITLE, header=f"复核委托书 · {letter.number}",
                      story=recheck_docs.entrustment_story(session, recheck), stamp=stamp, subject=recheck.number)


def recheck_form_pdf(session: Session, recheck: Recheck, stamp: pdf.Stamp) -> bytes:
    return pdf.render(title=recheck_docs.FORM_TITLE, header=f"复核表 · {recheck.number}",
                      story=recheck_docs.form_story(session, recheck), stamp=stamp, subject=recheck.number)
