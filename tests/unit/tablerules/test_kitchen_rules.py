"""The kitchen floor's figures: all-day counts and the long-wait colour."""

from tablerules.documents import KitchenTicket, OrderItem
from tablerules.kitchen import AllDay, all_day, wait_level


def _ticket(no, *items, status="open", station="hot"):
    return KitchenTicket(document_id=f"ticket-{no}", ticket_no=str(no), order_no="1", created_at="2026-11-29T12:00:00",
                         status=status, station=station,
                         items=tuple(OrderItem(name=name, qty=qty, station=item_station or station, status=item_status)
                                     for name, qty, item_status, item_station in items))


def test_all_day_sums_what_is_still_to_cook_across_open_tickets():
    tickets = [
        _ticket(1, ("辣椒炒肉", 2, "confirmed", ""), ("剁椒鱼头", 1, "done", "")),
        _ticket(2, ("辣椒炒肉", 1, "cooking", ""), ("辣椒炒肉", 5, "cancelled", "")),
        _ticket(3, ("辣椒炒肉", 9, "confirmed", "")), _ticket(4, ("凉拌黄瓜", 2, "confirmed", "cold"), station="cold"),
    ]
    tickets[2] = _ticket(3, ("辣椒炒肉", 9, "confirmed", ""), status="bumped")
    assert all_day(tickets) == [AllDay("辣椒炒肉", 3, 2), AllDay("凉拌黄瓜", 2, 1)]
    assert all_day(tickets, station="cold") == [AllDay("凉拌黄瓜", 2, 1)]
    assert all_day([]) == []


def test_equal_counts_sort_by_name():
    tickets = [_ticket(1, ("b", 1, "confirmed", ""), ("a", 1, "confirmed", ""))]
    assert [row.name for row in all_day(tickets)] == ["a", "b"]


def test_wait_level():
    assert [wait_level(m) for m in (0, 9.9, 10, 19.99, 20, 300)] == ["ok", "ok", "warn", "warn", "late", "late"]
    assert wait_level(6, warn_minutes=5, late_minutes=8) == "warn"
