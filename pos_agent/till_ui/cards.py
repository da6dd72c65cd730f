"""Physical member cards at the till: the cards a member holds, a new card issued, a card reported
lost (挂失) and a lost or damaged card replaced by a new one (补卡).

Only the server can change a card, so these calls need it (409 ``needs_server`` offline) and are
made with the cashier's own server token: the server checks the permission (``members.write``)
and records the cashier as the actor. The server's event log tells every agent of the store
(``member_changed``), and each agent's local copy drops a lost card from its next read.

Online, a swiped card is looked up on the server even when the local copy knows it: a card
reported lost a moment ago, at another till or on the manager's page, is refused at once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..local.errors import TillError
from ..remote import ServerClient

if TYPE_CHECKING:
    from .desk import TillDesk

_MEMBER = r"/api/v1/members/(\d{1,10})/cards"
ROUTES = {
    "cards": re.compile(rf"^{_MEMBER}$"),
    "lost": re.compile(rf"^{_MEMBER}/(\d{{1,10}})/lost$"),
    "replace": re.compile(rf"^{_MEMBER}/(\d{{1,10}})/replace$"),
}
CARD_NO = re.compile(r"[0-9A-Za-z]{4,32}")
WHAT = ("会员卡", "Member cards")


def card_not_active(status: str) -> TillError:
    return TillError(409, "card_not_active", "这张卡已挂失或已补卡，不能使用 / This card was reported lost or "
                     "replaced; it cannot be used", {"status": status})


def card_json(card: dict) -> dict:
    return {"id": card.get("id"), "card_no": card.get("card_no", ""), "status": card.get("status", "active"),
            "status_changed_at": card.get("status_changed_at"), "replaced_by_id": card.get("replaced_by_id")}


class CardCounter:
    """The till's card calls, answered through the desk's server client."""

    def __init__(self, desk: TillDesk) -> None:
        self.desk = desk

    def handle(self, method: str, path: str, body: Any, token: str | None) -> tuple[int, Any] | None:
        if method == "GET" and (match := ROUTES["cards"].match(path)):
            return 200, self.cards(int(match.group(1)), token)
        if method != "POST":
            return None
        if match := ROUTES["cards"].match(path):
            return 201, self.issue(int(match.group(1)), body(), token)
        if match := ROUTES["lost"].match(path):
            body()
            return 200, self.report_lost(int(match.group(1)), int(match.group(2)), token)
        if match := ROUTES["replace"].match(path):
            return 201, self.replace(int(match.group(1)), int(match.group(2)), body(), token)
        return None

    def _client(self, token: str | None) -> ServerClient:
        return self.desk._server(token, *WHAT)

    def cards(self, member_id: int, token: str | None) -> dict:
        member = self.desk._call(self._client(token), "GET", f"/api/v1/members/{member_id}", WHAT)
        return {"member_id": member_id, "cards": [card_json(c) for c in member.get("cards", [])]}

    def issue(self, member_id: int, data: Any, token: str | None) -> dict:
        """发卡: a blank card swiped at the till is bound to the member (409 ``card_taken`` when the
        number is someone's already)."""
        card_no = _card_no(data)
        client = self._client(token)
        try:
            card = self.desk._call(client, "POST", f"/api/v1/members/{member_id}/cards", WHAT,
                                   body={"card_no": card_no})
        except TillError as error:
            if error.code == "card_taken":
                raise TillError(409, "card_taken", "这张卡已经绑定了会员，不能再发 / This card is already bound to a "
                                "member", {"card_no": card_no}) from None
            raise
        return card_json(card)

    def report_lost(self, member_id: int, card_id: int, token: str | None) -> dict:
        """挂失: the card stops working at once, on the server and (after the store's next
        ``member_changed``) in every agent's local copy."""
        try:
            card = self.desk._call(self._client(token), "POST",
                                   f"/api/v1/members/{member_id}/cards/{card_id}/lost", WHAT)
        except TillError as error:
            if error.code == "card_not_active":
                raise TillError(409, "card_not_active", "这张卡已经不在使用中 / This card is not in use any more",
                                error.details) from None
            raise
        return card_json(card)

    def replace(self, member_id: int, card_id: int, data: Any, token: str | None) -> dict:
        """补卡: a new card for a lost or damaged one; the balance stays on the member, and the old
        number is refused from now on."""
        card_no = _card_no(data)
        try:
            card = self.desk._call(self._client(token), "POST",
                                   f"/api/v1/members/{member_id}/cards/{card_id}/replace", WHAT,
                                   body={"card_no": card_no})
        except TillError as error:
            if error.code == "card_taken":
                raise TillError(409, "card_taken", "这张卡已经绑定了会员，不能用来补卡 / This card is already "
                                "bound to a member", {"card_no": card_no}) from None
            if error.code == "card_not_replaceable":
                raise TillError(409, "card_not_replaceable", "这张卡不能补卡 / This card cannot be replaced",
                                error.details) from None
            raise
        return card_json(card)

    def lookup(self, client: ServerClient, numbers: list[str]) -> int | None:
        """The member whose card this is, as the server sees it now: None when no member has it,
        409 ``card_not_active`` for a lost or replaced card."""
        for number in numbers:
            try:
                return self.desk._call(client, "GET", "/api/v1/members/lookup", ("查询会员", "Looking a member up"),
                                       query={"card_no": number})["id"]
            except TillError as error:
                if error.code == "card_not_active":
                    raise card_not_active((error.details or {}).get("status", "")) from None
                if error.status != 404:
                    raise
        return None


def _card_no(data: Any) -> str:
    if not isinstance(data, dict):
        raise TillError(422, "validation_error", "body: expected a JSON object", {"field": "body"})
    card_no = data.get("card_no")
    if not isinstance(card_no, str) or not CARD_NO.fullmatch(card_no.strip()):
        raise TillError(422, "validation_error", "请刷卡或输入 4–32 位卡号 / Swipe the card or type its number "
                        "(4 to 32 letters and digits)", {"field": "card_no"})
    return card_no.strip()
