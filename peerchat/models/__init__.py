"""peerchat's records, one module per area (accounts and rooms, support, supporters, ...)."""

from peerchat.models.accounts import Membership, Message, Room, User, UserManager
from peerchat.models.groups import GroupMeeting, Mute
from peerchat.models.safety import SafetyPlan, SafetyPlanShare
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
    "Debrief",
    "Feedback",
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
    "SupportRequest",
    "SupportSession",
    "SupporterProfile",
    "TrainingModule",
    "TrainingRecord",
    "User",
    "UserManager",
]
