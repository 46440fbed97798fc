"""The data model. Plain SQLAlchemy 2 declarative classes (usable without Flask)."""

from .accounts import GOOGLE, TRELLO, ProviderAccount, User
from .alerts import AlertIncident, AlertPreference
from .base import Base, utcnow
from .boards import WorkspaceBoard
from .ops import WorkerHeartbeat
from .security import AddonNonce, OAuthFlowState, UserSession
from .sync import Event, History, Link
from .workspace import Workspace, WorkspaceMember

__all__ = [
    "Base", "utcnow", "User", "ProviderAccount", "GOOGLE", "TRELLO",
    "Workspace", "WorkspaceMember", "Link", "Event", "History", "UserSession", "OAuthFlowState", "AddonNonce",
    "WorkerHeartbeat",
    "AlertIncident", "AlertPreference", "WorkspaceBoard",
]
