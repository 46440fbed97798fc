"""workspace_boards: the further boards of a workspace routed by a column, with their webhooks

A workspace's primary board keeps its webhook on ``workspaces``; each further board (several
boards per sheet, ``server/models/boards.py``) has a row here: its board id, its Trello webhook,
the exact callback URL that webhook was registered with (what Trello signs), and what the
worker's last look at the webhook found. Which rows go to which board, and each board's lists,
are part of the workspace's mapping (``routing``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 13:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import server.models.base

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'workspace_boards',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.String(length=40), nullable=False),
        sa.Column('board_id', sa.String(length=32), nullable=False),
        sa.Column('webhook_id', sa.String(length=32), nullable=True),
        sa.Column('webhook_callback', sa.Text(), nullable=True),
        sa.Column('webhook_checked_at', server.models.base.UTCDateTime(), nullable=True),
        sa.Column('webhook_active', sa.Boolean(), nullable=True),
        sa.Column('webhook_failures', sa.Integer(), server_default='0', nullable=False),
        sa.Column('webhook_detail', sa.Text(), server_default='', nullable=False),
        sa.Column('webhook_reregistered_at', server.models.base.UTCDateTime(), nullable=True),
        sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_workspace_boards_workspace_id_workspaces'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_boards')),
        sa.UniqueConstraint('workspace_id', 'board_id', name=op.f('uq_workspace_boards_workspace_id_board_id')),
    )
    with op.batch_alter_table('workspace_boards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workspace_boards_board_id'), ['board_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_workspace_boards_workspace_id'), ['workspace_id'], unique=False)


def downgrade():
    with op.batch_alter_table('workspace_boards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workspace_boards_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_workspace_boards_board_id'))
    op.drop_table('workspace_boards')
