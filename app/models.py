"""Every model module, imported once so the metadata (and Alembic) sees all tables."""

from app.analytics import models as analytics  # noqa: F401
from app.audit import models as audit  # noqa: F401
from app.auth import models as auth  # noqa: F401
from app.campaigns import models as campaigns  # noqa: F401
from app.coupons import models as coupons  # noqa: F401
from app.crm import models as crm  # noqa: F401
from app.events import models as events  # noqa: F401
from app.fans import models as fans  # noqa: F401
from app.idempotency import IdempotencyRecord  # noqa: F401
from app.inbox import models as inbox  # noqa: F401
from app.members import models as members  # noqa: F401
from app.menu import models as menu  # noqa: F401
from app.menu import version as menu_version  # noqa: F401 - the listener that moves the menu version
from app.orders import models as orders  # noqa: F401
from app.orders import shift  # noqa: F401
from app.outbox import models as outbox  # noqa: F401
from app.payments import models as payments  # noqa: F401
from app.sync import models as sync  # noqa: F401
from app.tables import models as tables  # noqa: F401
from app.tenants import models as tenants  # noqa: F401
from app.wechat import models as wechat  # noqa: F401
