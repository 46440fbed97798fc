"""The secrets stored encrypted (every ``EncryptedText`` column): check they decrypt, and rotate them.

Values are read and written raw (``type_coerce`` to plain text), so a value that does not decrypt
is reported, never raised on, and rotation never decrypts through the model layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import (
    Column,
    Connection,
    Table,
    Text,
    inspect,
    select,
    type_coerce,
    update,
)

from . import crypto
from .models.base import Base, EncryptedText

BATCH = 500


@dataclass
class SecretsTally:
    """Per ``table.column``: how many values were seen, and how many failed to decrypt."""

    seen: dict[str, int] = field(default_factory=dict)
    undecryptable: dict[str, int] = field(default_factory=dict)
    rotated: int = 0

    @property
    def total(self) -> int:
        return sum(self.seen.values())

    @property
    def failed(self) -> int:
        return sum(self.undecryptable.values())


def encrypted_columns(connection: Connection) -> Iterator[tuple[Table, Column]]:
    """The encrypted columns the database has (one behind the code's migrations may lack some)."""
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if isinstance(column.type, EncryptedText) and column.name in present:
                yield table, column


def _rows(connection: Connection, table: Table, column: Column) -> Iterator[tuple[tuple, str]]:
    keys = list(table.primary_key.columns)
    raw = type_coerce(column, Text)
    query = select(*keys, raw).where(column.is_not(None))
    for row in connection.execute(query):
        yield tuple(row[:-1]), row[-1]


def scan(connection: Connection) -> SecretsTally:
    """Try to decrypt every stored secret with the configured keys."""
    tally = SecretsTally()
    for table, column in encrypted_columns(connection):
        label = f"{table.name}.{column.name}"
        for _key, value in _rows(connection, table, column):
            tally.seen[label] = tally.seen.get(label, 0) + 1
            try:
                crypto.decrypt(value)
            except crypto.DecryptionError:
                tally.undecryptable[label] = tally.undecryptable.get(label, 0) + 1
    return tally


def rotate(connection: Connection, progress: Callable[[int], None] | None = None) -> SecretsTally:
    """Re-encrypt every stored secret with the first configured key (``MultiFernet.rotate``).

    Values no configured key decrypts are left as they are and counted. The caller commits.
    """
    tally = SecretsTally()
    for table, column in encrypted_columns(connection):
        label = f"{table.name}.{column.name}"
        keys = list(table.primary_key.columns)
        changes: list[tuple[tuple, str]] = []
        for key, value in _rows(connection, table, column):
            tally.seen[label] = tally.seen.get(label, 0) + 1
            try:
                changes.append((key, crypto.rotate(value)))
            except crypto.DecryptionError:
                tally.undecryptable[label] = tally.undecryptable.get(label, 0) + 1
        for key, value in changes:
            condition = [k == v for k, v in zip(keys, key, strict=True)]
            connection.execute(update(table).where(*condition).values({column.name: type_coerce(value, Text)}))
            tally.rotated += 1
            if progress is not None and tally.rotated % BATCH == 0:
                progress(tally.rotated)
    if progress is not None:
        progress(tally.rotated)
    return tally
