"""history indexes for the history page: one lead's timeline, and errors or conflicts only

The history page pages through a workspace's whole history by id; a lead's timeline and the
"errors only" / "conflicts only" filters would otherwise read every entry of the workspace.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-06 07:20:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.create_index('ix_history_lead', ['workspace_id', 'lead_id', 'id'], unique=False)
        batch_op.create_index('ix_history_outcome', ['workspace_id', 'outcome', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.drop_index('ix_history_outcome')
        batch_op.drop_index('ix_history_lead')
