"""sessions, secrets, nonces

- ``user_sessions``: one row per signed-in browser (the cookie carries a random token, the row its
  SHA-256), so signing out, "sign out everywhere" and idle expiry end sessions on the server.
  Sessions made before this revision were only signed cookies: they all end (people sign in again).
- ``oauth_flow_states``: the secrets of OAuth flows in progress (Trello's request-token secret,
  Google's PKCE verifier), encrypted, instead of the signed-but-readable session cookie.
- ``addon_nonces``: one row per signed add-on API request while its signature is fresh, unique per
  workspace and nonce, so a captured request cannot be replayed.
- ``workspaces.addon_secret_previous`` / ``_previous_until`` / ``_rotated_at``: the add-on secret a
  rotation replaced and how long it is still accepted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-11 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import server.models.base

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('user_sessions',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash'))
    )
    op.create_index(op.f('ix_user_sessions_user_id'), 'user_sessions', ['user_id'], unique=False)

    op.create_table('oauth_flow_states',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('value', server.models.base.EncryptedText(), nullable=False),
    sa.Column('expires_at', server.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_oauth_flow_states'))
    )
    op.create_index(op.f('ix_oauth_flow_states_expires_at'), 'oauth_flow_states', ['expires_at'], unique=False)

    op.create_table('addon_nonces',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_addon_nonces_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addon_nonces')),
    sa.UniqueConstraint('workspace_id', 'nonce', name=op.f('uq_addon_nonces_workspace_id_nonce'))
    )
    op.create_index(op.f('ix_addon_nonces_expires_at'), 'addon_nonces', ['expires_at'], unique=False)

    # Adding nullable columns is an in-place ALTER TABLE on SQLite too (batch mode does not copy the
    # table for it), so the links and events that cascade from workspaces are never touched.
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('addon_secret_previous', server.models.base.EncryptedText(), nullable=True))
        batch_op.add_column(sa.Column('addon_secret_previous_until', server.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('addon_secret_rotated_at', server.models.base.UTCDateTime(), nullable=True))


def downgrade():
    # Not in batch mode: on SQLite that copies the table and drops the old one, and with foreign
    # keys on (server/database.py), dropping it cascades to every workspace's links and events.
    # SQLite (3.35+) and PostgreSQL both drop a column in place. A rotated workspace keeps its
    # current secret; the previous one is forgotten.
    op.drop_column('workspaces', 'addon_secret_rotated_at')
    op.drop_column('workspaces', 'addon_secret_previous_until')
    op.drop_column('workspaces', 'addon_secret_previous')

    op.drop_index(op.f('ix_addon_nonces_expires_at'), table_name='addon_nonces')
    op.drop_table('addon_nonces')
    op.drop_index(op.f('ix_oauth_flow_states_expires_at'), table_name='oauth_flow_states')
    op.drop_table('oauth_flow_states')
    op.drop_index(op.f('ix_user_sessions_user_id'), table_name='user_sessions')
    op.drop_table('user_sessions')
