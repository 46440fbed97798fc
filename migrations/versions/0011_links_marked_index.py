"""links: index the links with cells to write by (workspace, marked at), only those links

The sheet outbox's two reads, "which workspaces have marked links, and since when" and "a
workspace's marked links, oldest first", walked every link: SQLite answered the first with a scan
of the table and the second through ``ix_links_pending`` plus a sort, 20 and 40 ms at 100,000
links, on every flush. A partial index holds only the marked links (a handful at any time), so
both reads are a walk of it, at any number of links; it replaces ``ix_links_sheet_marked_at``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 13:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_MARKED = sa.text('sheet_marked_at IS NOT NULL')


def upgrade():
    op.drop_index('ix_links_sheet_marked_at', table_name='links')
    op.create_index('ix_links_marked', 'links', ['workspace_id', 'sheet_marked_at'], unique=False,
                    sqlite_where=_MARKED, postgresql_where=_MARKED)


def downgrade():
    op.drop_index('ix_links_marked', table_name='links')
    op.create_index('ix_links_sheet_marked_at', 'links', ['sheet_marked_at'], unique=False)
