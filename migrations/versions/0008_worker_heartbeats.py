"""worker heartbeats

One row per running sync worker, its ``seen_at`` moved by the worker's loop every few seconds:
``/ready`` fails when no worker has been heard from lately, and ``/metrics`` shows each worker's
last loop time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import server.models.base

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'worker_heartbeats',
        sa.Column('worker_id', sa.String(length=64), nullable=False),
        sa.Column('started_at', server.models.base.UTCDateTime(), nullable=False),
        sa.Column('seen_at', server.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_worker_heartbeats')),
    )


def downgrade():
    op.drop_table('worker_heartbeats')
