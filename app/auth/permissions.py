"""Roles and what each may do: one table, read by the request guard and the pages."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext


class Role(enum.IntEnum):
    OWNER = 1
    MANAGER = 2
    CASHIER = 3
    KITCHEN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def display(self) -> str:
        return str(_ROLE_NAMES[self])

    @classmethod
    def from_label(cls, label: str) -> Role:
        return cls[label.upper()]


_ROLE_NAMES = {
    Role.OWNER: lazy_gettext("Owner"),
    Role.MANAGER: lazy_gettext("Manager"),
    Role.CASHIER: lazy_gettext("Cashier"),
    Role.KITCHEN: lazy_gettext("Kitchen"),
}

# Roles that work at one store and must be bound to it.
STORE_BOUND_ROLES = frozenset({Role.CASHIER, Role.KITCHEN})


class Permission(enum.StrEnum):
    STAFF_MANAGE = "staff.manage"
    STORES_MANAGE = "stores.manage"
    DEVICES_MANAGE = "devices.manage"
    AUDIT_READ = "audit.read"
    ANALYTICS = "analytics"  # the member pyramid and other reports
    MENU_MANAGE = "menu.manage"
    MENU_READ = "menu.read"
    MEMBERS_READ = "members.read"
    MEMBERS_WRITE = "members.write"
    MEMBERS_ADJUST = "members.adjust"  # manual balance / points corrections
    MEMBERS_CONFIG = "members.config"  # tiers, points and top-up rules
    MONEY = "money"  # settle, top up, refund, shift close
    ORDERS = "orders"
    KITCHEN = "kitchen"
    PROFILE = "profile"  # one's own account and token
    DEVICE_SYNC = "device.sync"  # the on-site agent's event pull and outbox push
    WECHAT_SETTINGS_READ = "wechat.settings.read"  # the merchant's WeChat account, secrets shown as set/unset
    WECHAT_SETTINGS_WRITE = "wechat.settings.write"  # change it (owners only: it receives the money)
    CS_INBOX = "cs.inbox"  # read and answer followers' messages in the store's customer-service inbox
    CS_CONFIG = "cs.config"  # canned replies and keyword auto-replies


MONEY_PERMISSIONS = frozenset({Permission.MONEY, Permission.MEMBERS_ADJUST})

_EVERYTHING = frozenset(Permission) - {Permission.DEVICE_SYNC}
_FRONT_OF_HOUSE = frozenset({
    Permission.MENU_READ, Permission.MEMBERS_READ, Permission.MEMBERS_WRITE,
    Permission.MONEY, Permission.ORDERS, Permission.KITCHEN, Permission.PROFILE, Permission.CS_INBOX,
})

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: _EVERYTHING,
    Role.MANAGER: _EVERYTHING - {Permission.WECHAT_SETTINGS_WRITE},
    Role.CASHIER: _FRONT_OF_HOUSE,
    Role.KITCHEN: frozenset({Permission.MENU_READ, Permission.KITCHEN, Permission.PROFILE}),
}

DEVICE_GRANTS = frozenset({
    Permission.DEVICE_SYNC, Permission.KITCHEN, Permission.MENU_READ,
})


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def can_manage_role(actor: Role, target: Role) -> bool:
    """Owners manage everyone; managers manage cashiers and kitchen staff; nobody else anyone."""
    if actor is Role.OWNER:
        return True
    if actor is Role.MANAGER:
        return target in STORE_BOUND_ROLES
    return False
