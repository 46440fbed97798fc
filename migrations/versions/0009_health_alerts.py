"""connection health, grant expiry and alerts

Workspaces record when the add-on and the Power-Up were last heard from and what the last check of
the Trello webhook found; provider accounts record when their grant was issued and how it expires;
``alert_incidents`` holds one row per outage (opened, resolved, notices sent) and
``alert_preferences`` who hears about them and how.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 07:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

import server.models.base

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('addon_last_seen_at', server.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('powerup_last_seen_at', server.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('webhook_checked_at', server.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('webhook_active', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('webhook_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('webhook_detail', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('webhook_reregistered_at', server.models.base.UTCDateTime(), nullable=True))
    with op.batch_alter_table('provider_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grant_issued_at', server.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('grant_expiry', sa.String(length=24), server_default='unknown',
                                      nullable=False))
        batch_op.add_column(sa.Column('grant_expires_at', server.models.base.UTCDateTime(), nullable=True))
    op.create_table(
        'alert_incidents',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('workspace_id', sa.String(length=40), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('subject', sa.String(length=64), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('opened_at', server.models.base.UTCDateTime(), nullable=False),
        sa.Column('resolved_at', server.models.base.UTCDateTime(), nullable=True),
        sa.Column('deliveries', sa.JSON(), nullable=False),
        sa.Column('opened_sent_at', server.models.base.UTCDateTime(), nullable=True),
        sa.Column('resolved_sent_at', server.models.base.UTCDateTime(), nullable=True),
        sa.Column('send_failures', sa.Integer(), nullable=False),
        sa.Column('last_send_error', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_alert_incidents_workspace_id_workspaces'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_incidents')),
    )
    with op.batch_alter_table('alert_incidents', schema=None) as batch_op:
        batch_op.create_index('ix_alert_incidents_open', ['workspace_id', 'kind', 'subject', 'resolved_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_alert_incidents_workspace_id'), ['workspace_id'], unique=False)
    op.create_table(
        'alert_preferences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.String(length=40), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('email_mode', sa.String(length=16), nullable=False),
        sa.Column('extra_emails', sa.Text(), nullable=False),
        sa.Column('slack_webhook_url', server.models.base.EncryptedText(), nullable=True),
        sa.Column('daily_digest', sa.Boolean(), nullable=False),
        sa.Column('last_digest_at', server.models.base.UTCDateTime(), nullable=True),
        sa.Column('updated_at', server.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_alert_preferences_user_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_alert_preferences_workspace_id_workspaces'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_preferences')),
        sa.UniqueConstraint('workspace_id', 'user_id', name=op.f('uq_alert_preferences_workspace_id_user_id')),
    )
    with op.batch_alter_table('alert_preferences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_preferences_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_preferences_workspace_id'), ['workspace_id'], unique=False)


def downgrade():
    op.drop_table('alert_preferences')
    op.drop_table('alert_incidents')
    # In place, not in batch mode (see 0002: a batch rebuild on SQLite cascades through the
    # foreign keys).
    for column in ('grant_expires_at', 'grant_expiry', 'grant_issued_at'):
        op.drop_column('provider_accounts', column)
    for column in ('webhook_reregistered_at', 'webhook_detail', 'webhook_failures', 'webhook_active',
                   'webhook_checked_at', 'powerup_last_seen_at', 'addon_last_seen_at'):
        op.drop_column('workspaces', column)
