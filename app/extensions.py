"""Extensions, created unbound and initialised in the factory."""

from flask_babel import Babel
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from app.api import Api
from app.db import db

migrate = Migrate(compare_type=True, render_as_batch=True)
api = Api()
babel = Babel()
csrf = CSRFProtect()

__all__ = ["api", "babel", "csrf", "db", "migrate"]
