"""All models, imported here so ``Base.metadata`` is complete for Alembic and tests."""

from engine.models.calendar import CalendarDay
from engine.models.calendar import CalendarDayKind
from engine.models.calendar import CalendarYear
from engine.models.definition import CurrentDefinition
from engine.models.definition import DefinitionFile
from engine.models.definition import ProcessDefinition
from engine.models.event import Event
from engine.models.instance import HumanTask
from engine.models.instance import HumanTaskStatus
from engine.models.instance import InstanceStatus
from engine.models.instance import MessageSubscription
from engine.models.instance import OutboxMessage
from engine.models.instance import Timer
from engine.models.instance import TimerStatus
from engine.models.instance import WorkflowInstance
from engine.models.org import ExchangeRegistration
from engine.models.org import ExchangeSide
from engine.models.org import Membership
from engine.models.org import Region
from engine.models.org import RegionLevel
from engine.models.org import Unit
from engine.models.org import UnitKind
from engine.models.user import ApiToken
from engine.models.user import Role
from engine.models.user import User

__all__ = [
    "ExchangeRegistration",
    "ExchangeSide",
    "Membership",
    "Region",
    "RegionLevel",
    "Unit",
    "UnitKind",
    "ApiToken",
    "CalendarDay",
    "CalendarDayKind",
    "CalendarYear",
    "CurrentDefinition",
    "DefinitionFile",
    "Event",
    "HumanTask",
    "HumanTaskStatus",
    "InstanceStatus",
    "MessageSubscription",
    "OutboxMessage",
    "ProcessDefinition",
    "Role",
    "Timer",
    "TimerStatus",
    "User",
    "WorkflowInstance",
]

from engine.models.security import LoginAttempt  # noqa: E402

__all__ += ["LoginAttempt"]

from engine.models.policy import PolicyOverride  # noqa: E402
from engine.models.policy import TaskEscalation  # noqa: E402

__all__ += ["PolicyOverride", "TaskEscalation"]

from engine.models.case import Authorisation  # noqa: E402
from engine.models.case import AuthorisationPerson  # noqa: E402
from engine.models.case import CaseCounter  # noqa: E402
from engine.models.case import CaseStatus  # noqa: E402
from engine.models.case import Document  # noqa: E402
from engine.models.case import DocumentBlob  # noqa: E402
from engine.models.case import DocumentKind  # noqa: E402
from engine.models.case import Entrustment  # noqa: E402
from engine.models.case import EntrustmentSource  # noqa: E402
from engine.models.case import Household  # noqa: E402
from engine.models.case import Person  # noqa: E402
from engine.models.case import PersonRole  # noqa: E402

__all__ += ["Authorisation", "AuthorisationPerson", "CaseCounter", "CaseStatus", "Document", "DocumentBlob",
            "DocumentKind", "Entrustment", "EntrustmentSource", "Household", "Person", "PersonRole"]

from engine.models.draft import ImportJob  # noqa: E402
from engine.models.draft import ImportJobStatus  # noqa: E402
from engine.models.draft import IntakeDraft  # noqa: E402
from engine.models.draft import IntakeDraftFile  # noqa: E402

__all__ += ["ImportJob", "ImportJobStatus", "IntakeDraft", "IntakeDraftFile"]

from engine.models.archive import Archive  # noqa: E402
from engine.models.archive import ArchiveItem  # noqa: E402
from engine.models.archive import ArchiveItemBlob  # noqa: E402
from engine.models.archive import PrintCounter  # noqa: E402

__all__ += ["Archive", "ArchiveItem", "ArchiveItemBlob", "PrintCounter"]

from engine.models.exchange import BatchStatus  # noqa: E402
from engine.models.exchange import ExchangeBatch  # noqa: E402
from engine.models.exchange import ExchangeDelayNotice  # noqa: E402
from engine.models.exchange import ExchangeImport  # noqa: E402
from engine.models.exchange import ExchangeKey  # noqa: E402
from engine.models.exchange import ExchangeMode  # noqa: E402
from engine.models.exchange import ExchangeNonce  # noqa: E402
from engine.models.exchange import ExchangeProfile  # noqa: E402
from engine.models.exchange import ExchangeRequest  # noqa: E402
from engine.models.exchange import ExchangeRequestLine  # noqa: E402
from engine.models.exchange import ExchangeResult  # noqa: E402
from engine.models.exchange import ImportStatus  # noqa: E402
from engine.models.exchange import RequestStatus  # noqa: E402
from engine.models.exchange import ResultStatus  # noqa: E402

__all__ += ["BatchStatus", "ExchangeBatch", "ExchangeDelayNotice", "ExchangeImport", "ExchangeKey", "ExchangeMode",
            "ExchangeNonce", "ExchangeProfile", "ExchangeRequest", "ExchangeRequestLine", "ExchangeResult",
            "ImportStatus", "RequestStatus", "ResultStatus"]

from engine.models.recheck import BatchStatus as RecheckBatchStatus  # noqa: E402
from engine.models.recheck import ItemStatus  # noqa: E402
from engine.models.recheck import Recheck  # noqa: E402
from engine.models.recheck import RecheckBatch  # noqa: E402
from engine.models.recheck import RecheckBatchItem  # noqa: E402
from engine.models.recheck import RecheckStatus  # noqa: E402
from engine.models.recheck import RecheckTrigger  # noqa: E402

__all__ += ["RecheckBatchStatus", "ItemStatus", "Recheck", "RecheckBatch", "RecheckBatchItem", "RecheckStatus",
            "RecheckTrigger"]

from engine.models.report import Report  # noqa: E402
from engine.models.report import ReportKind  # noqa: E402

__all__ += ["Report", "ReportKind"]

from engine.models.escalation import CrossCityBatch  # noqa: E402
from engine.models.escalation import CrossCityBatchStatus  # noqa: E402
from engine.models.escalation import Escalation  # noqa: E402
from engine.models.escalation import EscalationKind  # noqa: E402
from engine.models.escalation import EscalationStatus  # noqa: E402
from engine.models.escalation import EscalationStep  # noqa: E402

__all__ += ["CrossCityBatch", "CrossCityBatchStatus", "Escalation", "EscalationKind", "EscalationStatus",
            "EscalationStep"]

from engine.models.credit import CreditReason  # noqa: E402
from engine.models.credit import CreditRecord  # noqa: E402
from engine.models.credit import CreditStatus  # noqa: E402

__all__ += ["CreditReason", "CreditRecord", "CreditStatus"]

from engine.models.complaint import Complaint  # noqa: E402
from engine.models.complaint import ComplaintChannel  # noqa: E402
from engine.models.complaint import ComplaintStatus  # noqa: E402

__all__ += ["Complaint", "ComplaintChannel", "ComplaintStatus"]

from engine.models.spending import InquiryOutcome  # noqa: E402
from engine.models.spending import InquiryStatus  # noqa: E402
from engine.models.spending import SpendingInquiry  # noqa: E402
from engine.models.spending import SpendingItem  # noqa: E402

__all__ += ["InquiryOutcome", "InquiryStatus", "SpendingInquiry", "SpendingItem"]

from engine.models.migration_run import CaseOutcome  # noqa: E402
from engine.models.migration_run import MigrationRun  # noqa: E402
from engine.models.migration_run import MigrationRunCase  # noqa: E402
from engine.models.migration_run import MigrationRunStatus  # noqa: E402

__all__ += ["CaseOutcome", "MigrationRun", "MigrationRunCase", "MigrationRunStatus"]
