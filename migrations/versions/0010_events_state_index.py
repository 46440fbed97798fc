"""events: index unfinished events by (state, locked_until), not (state, next_attempt_at)

A claim finds a workspace's first ready events through ``ix_events_pick`` (workspace, state, lane,
id), walked in order. With ``ix_events_claim`` (state, next_attempt_at) beside it, SQLite's planner
took the range on ``next_attempt_at`` instead, read every ready event of the queue and sorted them
(1.3 ms a claim behind a 5,000-row paste, and growing with it). The lease query (processing events
whose lease ran out) and the metrics' count of unfinished events need only ``state`` first.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 11:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_events_claim', table_name='events')
    op.create_index('ix_events_state', 'events', ['state', 'locked_until'], unique=False)


def downgrade():
    op.drop_index('ix_events_state', table_name='events')
    op.create_index('ix_events_claim', 'events', ['state', 'next_attempt_at'], unique=False)
