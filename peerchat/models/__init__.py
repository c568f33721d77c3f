"""peerchat's records, one module per area (accounts and rooms, support, supporters, ...)."""

from peerchat.models.accounts import Membership, Message, Room, User, UserManager
from peerchat.models.groups import GroupMeeting, Mute
from peerchat.models.safety import SafetyPlan, SafetyPlanShare
from peerchat.models.supervision import (
    Booking,
    CalendarFeed,
    GateException,
    ShiftCheckIn,
    SlotKind,
    SlotPurpose,
    SlotSeries,
    StaffNotice,
    SupervisionSlot,
)
from peerchat.models.support import (
    Agreement,
    AgreementAcceptance,
    Feedback,
    HandoverNote,
    QueueState,
    SupportRequest,
    SupportSession,
)
from peerchat.models.supporters import (
    Debrief,
    Shift,
    SupporterProfile,
    TrainingModule,
    TrainingRecord,
)

__all__ = [
    "Agreement",
    "AgreementAcceptance",
    "Booking",
    "CalendarFeed",
    "Debrief",
    "Feedback",
    "GateException",
    "GroupMeeting",
    "HandoverNote",
    "Membership",
    "Message",
    "Mute",
    "QueueState",
    "Room",
    "SafetyPlan",
    "SafetyPlanShare",
    "Shift",
    "ShiftCheckIn",
    "SlotKind",
    "SlotPurpose",
    "SlotSeries",
    "StaffNotice",
    "SupervisionSlot",
    "SupportRequest",
    "SupportSession",
    "SupporterProfile",
    "TrainingModule",
    "TrainingRecord",
    "User",
    "UserManager",
]
