// Every key of the till, in one table. till.js dispatches on it, puts each key on its button (and
// wherever the page names a key: data-keys-of) and lists it in 快捷键一览 (F12); the footer's short
// line is made of the entries that have a hint. A key added here appears everywhere by itself.
//
// One entry per action:
//   action    the function of that name in till.js's `actions` (the "dialog" entries are the
//             dialog's own Enter and Esc: the browser's form and <dialog> handle them)
//   keys      as till.js names a key press (keyName): "F1", "Alt+G", "Enter", "ArrowUp", "Shift+Tab", "1"
//   group     the group 快捷键一览 lists it under (groups below)
//   fields    (optional) the key works only in these input fields (by id)
//   scope     (optional) "options": in the 选规格 chooser; "dialog": in any dialog
//   zh, en    what it does; where_zh, where_en (optional): where or when it works;
//   hint_zh, hint_en (optional): its word in the footer's short line
// Without fields or scope a key works anywhere on the desk, and, when its action has a button,
// only while that button is shown (Alt+S: managers and owners).
// The table is JSON, so that tests/pos_agent/test_till_keys.py reads it as data.
"use strict";
window.TILL_KEYS = {
  "groups": [
    {"id": "tables", "zh": "桌台", "en": "Tables"},
    {"id": "order", "zh": "点菜", "en": "Ordering"},
    {"id": "member", "zh": "会员", "en": "Members"},
    {"id": "pay", "zh": "结账", "en": "Paying"},
    {"id": "coupons", "zh": "优惠券", "en": "Coupons"},
    {"id": "cards", "zh": "会员卡", "en": "Member cards"},
    {"id": "other", "zh": "其他", "en": "Other"}
  ],
  "keys": [
    {"action": "focus-table", "keys": ["F1"], "group": "tables", "zh": "到桌号框", "en": "To the table code",
     "hint_zh": "桌台", "hint_en": "tables"},
    {"action": "open-table", "keys": ["Enter"], "group": "tables", "fields": ["table-code"],
     "zh": "开台（空桌先问人数），或选中这张桌", "en": "Open the table (a free one asks for the guests) or choose it",
     "where_zh": "桌号框", "where_en": "table code"},
    {"action": "area", "keys": ["Alt+2", "Alt+3", "Alt+4", "Alt+6", "Alt+7", "Alt+8", "Alt+9"], "group": "tables",
     "zh": "切换区域（键在区域名旁）", "en": "Switch the area (the key shows on its tab)"},
    {"action": "area-step", "keys": ["Alt+PageUp", "Alt+PageDown"], "group": "tables",
     "zh": "上一个 / 下一个区域（没有数字键的区域也能到）",
     "en": "The previous / next area (every area, those without a digit key too)"},
    {"action": "clear-table", "keys": ["Alt+C"], "group": "tables", "zh": "清台（已结账；菜已全退则撤单）", "en": "Clear a paid table, or cancel an emptied order"},
    {"action": "move-table", "keys": ["Alt+G"], "group": "tables", "zh": "转台：客人和订单转到一张空桌",
     "en": "Move: the party and its order to a free table"},
    {"action": "merge-table", "keys": ["Alt+H"], "group": "tables", "zh": "并台：这桌的订单并到另一桌，一张账单",
     "en": "Merge this table's order into another table's: one bill"},
    {"action": "confirm-picks", "keys": ["Alt+O"], "group": "tables", "zh": "确认下单：顾客扫码点的待确认菜送厨房",
     "en": "Confirm the diners' picks waiting at the table: they go to the kitchen"},

    {"action": "focus-search", "keys": ["F2"], "group": "order", "zh": "到点菜搜索：菜名、拼音或首字母，2*ljcr 点两份",
     "en": "To the dish search: name, pinyin or initials; 2*ljcr for two", "hint_zh": "点菜", "hint_en": "order"},
    {"action": "pick", "keys": ["ArrowUp", "ArrowDown"], "group": "order", "fields": ["search"],
     "zh": "在搜到的菜里上下选", "en": "Move up and down the dishes found", "where_zh": "搜索框", "where_en": "dish search",
     "hint_zh": "选菜", "hint_en": "pick"},
    {"action": "add-dish", "keys": ["Enter"], "group": "order", "fields": ["search"],
     "zh": "加入选中的菜（有规格的先选规格）", "en": "Add the chosen dish (a dish with options asks for them first)",
     "where_zh": "搜索框", "where_en": "dish search", "hint_zh": "加入", "hint_en": "add"},
    {"action": "set-note", "keys": ["Enter"], "group": "order", "fields": ["note"], "zh": "把备注写到选中的菜上",
     "en": "Put the note on the chosen line", "where_zh": "备注框", "where_en": "note"},
    {"action": "qty-down", "keys": ["F7"], "group": "order", "zh": "选中的菜少一份", "en": "One less of the chosen line"},
    {"action": "qty-up", "keys": ["F8"], "group": "order", "zh": "选中的菜多一份", "en": "One more of the chosen line"},
    {"action": "send", "keys": ["F6"], "group": "order", "zh": "下单送厨房；已有订单时加菜",
     "en": "Send the order to the kitchen; on an open order, add the new dishes", "hint_zh": "下单/加菜", "hint_en": "send/add"},
    {"action": "void-line", "keys": ["Alt+D"], "group": "order", "zh": "退菜：退掉选中的已下单菜（写原因，通知厨房）",
     "en": "Void the chosen sent line (with a reason; the kitchen is told)", "hint_zh": "退菜", "hint_en": "void"},
    {"action": "rush", "keys": ["Alt+E"], "group": "order", "zh": "催菜：请厨房快做这单还没上的菜",
     "en": "Rush: the kitchen hurries this order's dishes not served yet"},
    {"action": "opt-pick", "keys": ["1", "2", "3", "4", "5", "6", "7", "8", "9"], "group": "order", "scope": "options",
     "zh": "选本组的第几项（再按一次取消）", "en": "Pick that choice of the group (again: unpick)",
     "where_zh": "选规格时", "where_en": "choosing options"},
    {"action": "opt-next", "keys": ["ArrowDown", "ArrowRight", "Tab"], "group": "order", "scope": "options",
     "zh": "下一组", "en": "Next group", "where_zh": "选规格时", "where_en": "choosing options"},
    {"action": "opt-prev", "keys": ["ArrowUp", "ArrowLeft", "Shift+Tab"], "group": "order", "scope": "options",
     "zh": "上一组", "en": "Previous group", "where_zh": "选规格时", "where_en": "choosing options"},

    {"action": "focus-member", "keys": ["F3"], "group": "member", "zh": "到会员框：手机号、刷卡或扫会员码",
     "en": "To the member field: mobile number, card swipe or member code", "hint_zh": "会员", "hint_en": "member"},
    {"action": "find-member", "keys": ["Enter"], "group": "member", "fields": ["member-query"],
     "zh": "按输入的手机号或会员码找会员", "en": "Find the member by the mobile number or code typed",
     "where_zh": "会员框", "where_en": "member field"},
    {"action": "join", "keys": ["Alt+M"], "group": "member", "zh": "新会员入会（手机号和姓名）",
     "en": "Quick join: a new member by mobile number and name", "hint_zh": "新会员", "hint_en": "join"},
    {"action": "topup", "keys": ["Alt+T"], "group": "member", "zh": "充值（现金，或扫顾客的微信付款码），打印充值凭条",
     "en": "Top up stored value in cash or by the member's WeChat payment code; the slip prints", "where_zh": "识别会员后", "where_en": "member identified"},

    {"action": "pay", "keys": ["F4"], "group": "pay", "zh": "结账：到现金框", "en": "Pay: to the cash field",
     "hint_zh": "结账", "hint_en": "pay"},
    {"action": "cash-50", "keys": ["Alt+5"], "group": "pay", "zh": "现金 ¥50", "en": "Cash ¥50",
     "hint_zh": "¥50", "hint_en": "¥50"},
    {"action": "cash-100", "keys": ["Alt+1"], "group": "pay", "zh": "现金 ¥100", "en": "Cash ¥100",
     "hint_zh": "¥100", "hint_en": "¥100"},
    {"action": "cash-round", "keys": ["F9"], "group": "pay", "zh": "现金取整：应付向上取整到元",
     "en": "Cash: the amount due rounded up to the yuan", "hint_zh": "整数", "hint_en": "round up"},
    {"action": "sv-all", "keys": ["F10"], "group": "pay", "zh": "储值付（最多到余额）", "en": "Pay with stored value (up to the balance)",
     "where_zh": "识别会员后", "where_en": "member identified", "hint_zh": "储值", "hint_en": "stored value"},
    {"action": "qr-pay", "keys": ["Alt+W"], "group": "pay", "zh": "扫码支付：打印付款码，顾客用微信扫码付",
     "en": "Scan to pay: a QR prints for the customer to pay by WeChat", "hint_zh": "扫码支付", "hint_en": "scan to pay"},
    {"action": "settle", "keys": ["Enter"], "group": "pay", "fields": ["sv", "cash", "wx-code"],
     "zh": "收款：核对后再按 Enter 确认", "en": "Take payment: check it, then Enter again",
     "where_zh": "储值、现金或付款码框", "where_en": "stored value, cash or payment code"},
    {"action": "push-bill", "keys": ["Alt+B"], "group": "pay", "zh": "推送账单到这桌顾客的微信",
     "en": "Push the bill to the diners' WeChat"},

    {"action": "coupon", "keys": ["Alt+J", "Alt+K", "Alt+N", "Alt+U", "Alt+V", "Alt+Y"], "group": "coupons",
     "zh": "选用或取消会员的第 1…6 张优惠券（键在券旁）", "en": "Use or drop the member's coupon 1…6 (the key shows beside it)",
     "where_zh": "识别会员后", "where_en": "member identified"},

    {"action": "card-issue", "keys": ["Alt+I"], "group": "cards", "zh": "发卡：在读卡器上刷一张新卡，绑定给会员",
     "en": "Issue a card: swipe a blank card to bind it to the member", "where_zh": "识别会员后，需联网",
     "where_en": "member identified, online"},
    {"action": "card-lost", "keys": ["Alt+Z"], "group": "cards", "zh": "挂失：这张卡立即停用",
     "en": "Report a card lost: it stops working at once", "where_zh": "识别会员后，需联网",
     "where_en": "member identified, online"},
    {"action": "card-replace", "keys": ["Alt+A"], "group": "cards", "zh": "补卡：刷新卡换掉挂失或损坏的卡",
     "en": "Replace a lost or damaged card with a new one swiped", "where_zh": "识别会员后，需联网",
     "where_en": "member identified, online"},

    {"action": "refund", "keys": ["Alt+R"], "group": "other", "zh": "退款：这桌已结账的订单，整单或按菜，店长批准",
     "en": "Refund the table's paid order, whole or by line, approved by a manager"},
    {"action": "reprint", "keys": ["Alt+P"], "group": "other", "zh": "补打小票（标注重打）；没选已结账的单时补打充值凭条",
     "en": "Reprint the receipt (marked as a reprint); with no paid order chosen, the last top-up slip"},
    {"action": "shift", "keys": ["Alt+X"], "group": "other", "zh": "交班：点钞，打印交班单", "en": "Close the shift: count the cash; the summary prints"},
    {"action": "resync", "keys": ["Alt+S"], "group": "other", "zh": "同步本地资料", "en": "Resync the local copy",
     "where_zh": "店长、老板", "where_en": "managers and owners"},
    {"action": "lang", "keys": ["Alt+L"], "group": "other", "zh": "切换 中文 / English", "en": "Switch English / 中文"},
    {"action": "logout", "keys": ["Alt+Q"], "group": "other", "zh": "退出登录", "en": "Log out"},
    {"action": "back", "keys": ["Escape"], "group": "other", "zh": "返回桌号框", "en": "Back to the table code",
     "hint_zh": "返回", "hint_en": "back"},
    {"action": "help", "keys": ["F12"], "group": "other", "zh": "快捷键一览（再按 F12 或 Esc 关闭）",
     "en": "This list of keys (F12 again or Esc closes it)"},
    {"action": "dialog-ok", "keys": ["Enter"], "group": "other", "scope": "dialog", "zh": "确认", "en": "Confirm",
     "where_zh": "对话框中", "where_en": "in a dialog"},
    {"action": "dialog-cancel", "keys": ["Escape"], "group": "other", "scope": "dialog",
     "zh": "取消；等微信付款时取消这笔收款", "en": "Cancel; while WeChat Pay waits, cancel that payment",
     "where_zh": "对话框中", "where_en": "in a dialog"}
  ]
};
