"""engine lanes, echoes and the sheet outbox

Events get a ``lane`` (0 live, 1 bulk, 2 job: live edits are claimed before bulk work, and
whole-workspace jobs run on the worker's job threads) and an ``echo`` flag (a Trello action our
own call made, recognised by its provenance when it is stored). Existing events are live and not
echoes, which is what they were treated as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import server.models.base

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lane', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('echo', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_events_pick', ['workspace_id', 'state', 'lane', 'id'], unique=False)
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sheet_pending', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('sheet_marked_at', server.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_index('ix_links_sheet_marked_at', ['sheet_marked_at'], unique=False)
    # Whole-workspace jobs used to share the live queue: give them their lane.
    op.execute("UPDATE events SET lane = 2 WHERE source = 'system' AND kind IN ('reconcile', 'preview')")


def downgrade():
    # In place, not in batch mode (see 0002: a batch rebuild on SQLite cascades through the
    # foreign keys).
    op.drop_index('ix_links_sheet_marked_at', table_name='links')
    op.drop_column('links', 'version')
    op.drop_column('links', 'sheet_marked_at')
    op.drop_column('links', 'sheet_pending')
    op.drop_index('ix_events_pick', table_name='events')
    op.drop_column('events', 'echo')
    op.drop_column('events', 'lane')
