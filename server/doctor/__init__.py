"""``flask doctor``: check the deployment's configuration end to end against the providers.

Each check is a small function of a ``DoctorContext`` (plain data, no Flask) returning one
``Finding``; ``runner.CHECKS`` is the table of them, run each under its own timeout.
"""

from .context import DoctorContext, context_from_app
from .report import Finding, Report, Status
from .runner import CHECKS, run_checks

__all__ = ["CHECKS", "DoctorContext", "Finding", "Report", "Status", "context_from_app", "run_checks"]
