"""Flask extension instances, initialised in ``create_app``."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from .models.base import Base

# Importing ``models.base`` runs ``server/models/__init__.py``, which imports every model module:
# all the tables are on ``Base.metadata`` (and so on ``db``'s) from here on.
db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()


def db_session() -> Session:
    """The app context's ``Session`` itself. ``db.session`` is a ``scoped_session``: a proxy that
    forwards each call to this session, but not a ``Session``, so functions that take one (the
    engine's, the queries') are given this instead."""
    return db.session()
