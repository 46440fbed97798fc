"""workspace draft state

A workspace saved by the wizard but not yet started gets a state of its own, ``draft``. Until
now a draft was ``paused`` with a fixed ``state_detail``; those rows become ``draft`` with an
empty detail, and the downgrade turns every draft back into that form. The state column is a
plain string (no CHECK constraint or enum), so only data changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# The detail that marked a paused workspace as a draft before this revision (copied here, since
# the models no longer have it).
OLD_DRAFT_DETAIL = "Draft: review the preview and confirm to start syncing."


def upgrade():
    op.execute(sa.text("UPDATE workspaces SET state = 'draft', state_detail = '' "
                       "WHERE state = 'paused' AND state_detail = :detail").bindparams(detail=OLD_DRAFT_DETAIL))


def downgrade():
    op.execute(sa.text("UPDATE workspaces SET state = 'paused', state_detail = :detail "
                       "WHERE state = 'draft'").bindparams(detail=OLD_DRAFT_DETAIL))
