"""workspace sheet gid

The numeric id of the synced tab (Sheets ``properties.sheetId``, the ``gid`` of its URL), so
links open the right tab. Nullable: workspaces made before it learn it at their next sheet
metadata read (a reconciliation).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sheet_gid', sa.Integer(), nullable=True))


def downgrade():
    # Not in batch mode: on SQLite that copies the table and drops the old one, and with foreign
    # keys on (server/database.py), dropping it cascades to every workspace's links and events.
    # SQLite (3.35+) and PostgreSQL both drop a column in place.
    op.drop_column('workspaces', 'sheet_gid')
