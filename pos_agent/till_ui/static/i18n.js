// The till's words: Chinese first, English switchable (Alt+L). Error codes the till knows get
// the cashier's words; any other error shows the agent's message in the chosen language.
// What each key does (快捷键一览, the footer's line) is said beside the key, in keys.js.
"use strict";
window.TILL_TEXT = {
  zh: {
    all: "全部", colon: "：", seats: "{n}座", till: "收银台", tables: "桌台", order: "点菜", member: "会员", pay: "结账", refund: "退款", resync: "同步资料",
    logout: "退出", login_title: "收银员登录", username: "账号", password: "密码", login: "登录",
    clear_table: "清台", st_free: "空闲", st_ordering: "点餐中", st_ordered: "已下单", st_billed: "已推送账单",
    st_paid: "已结账", lines: "已点", send: "下单", add_more: "加菜", bill: "账单", stored_value: "储值", sv_all: "储值付",
    cash: "现金", round_up: "整数", change: "找零", to_pay: "还差", settle: "收款", cancel: "取消", confirm: "确认",
    table_code: "桌号，回车开台", search: "菜名 / 拼音 / 首字母（2*ljcr 点两份）", note: "备注（少辣、不要葱…）",
    member_query: "手机号 / 刷卡 / 扫会员码",
    online: "在线", offline: "离线", pending: "{n} 笔待同步",
    printer_kitchen: "后厨打印机", printer_receipt: "前台打印机", pr_paper_out: "缺纸", pr_paper_low: "纸快用完",
    pr_offline: "离线", pr_printer_error: "故障", pr_cover_open: "盖子没关", guests: "{n} 人", seat_title: "开台 {code}",
    guests_label: "用餐人数", sold_out: "售罄", no_table: "请先选桌（F1）", no_lines: "还没有点菜",
    sent: "已下单，已送厨房", added: "加菜已送厨房", tier: "等级", discount: "折扣", no_discount: "无折扣",
    principal: "本金", bonus: "赠送", points: "积分", coupons: "可用优惠券", no_coupons: "无可用优惠券",
    balance: "储值余额", offline_allowance: "离线可用", payable: "应付", confirm_pay: "确认收款",
    paid_done: "已结账，找零 {change}", drawer_open: "钱箱已打开", no_order: "这张桌还没有订单",
    not_enough: "付款金额不足", seated: "已开台", cleared: "已清台",
    cancel_title: "撤单并清台：{table}", cancel_hint: "这张单上的菜已全部退掉。撤单后桌台空出，原因记入操作日志。", order_cancelled: "已撤单，桌台已空出", member_found: "已识别会员：{name}",
    refund_title: "退款 {no}", reason: "原因", manager_user: "店长账号", manager_password: "店长密码",
    refunded: "已退款", no_paid_order: "这张桌没有可退款的订单", resynced: "本地资料已同步",
    discount_pct: "{p}% 折扣", expires: "有效期至 {d}", orderno: "单号 {no}", qty: "数量",
    scan_payment: "这是付款码：请在结账时使用微信支付（需联网）",
    push_bill: "推送账单到微信", pushed: "账单已推送给 {n} 位顾客，等待微信支付", pushed_none: "账单已备好，但本桌还没有顾客扫码：请顾客扫描桌上二维码查看并支付", void: "退菜", void_title: "退菜：{name}", voided: "已退菜，厨房已通知", join: "新会员", join_title: "新会员入会", phone: "手机号", name: "姓名", joined: "已入会：{name}",
    points_use: "积分抵扣", points_max: "最多 {n}",
    wx_code: "微信付款码（扫码）", wechat: "微信支付", wx_waiting: "等待顾客在手机上输入支付密码…请勿重复扫码",
    cannot_sell: "此账号不能收银（后厨请用后厨显示屏）", topup: "充值", topup_title: "充值 · {name}",
    topup_amount: "充值金额（元）", topup_rules: "充值优惠", no_rules: "暂无充值优惠",
    topped_up: "充值成功：本金 +{p}，赠送 +{b}，余额 {t}", no_member: "请先识别会员（F3）", reprint: "重打", shift: "交班", reprinted: "已重打小票（标注重打）", shift_title: "交班 · 点钞",
    opening_float: "备用金（元）", counted_cash: "实点现金（元）", sales_count: "结账单数",
    sales: "销售", refunds: "退款", topups: "充值", expected_cash: "钱箱应有现金",
    shift_closed: "已交班 · 应有 {e} · 实点 {c} · 差额 {d}",
    tender_cash: "现金", tender_stored_value: "储值", tender_wechat: "微信",
    // physical member cards
    cards: "实体卡", no_cards: "无实体卡", card_active: "正常", card_lost: "已挂失", card_replaced: "已补卡", card_unbound: "已解绑",
    card_issue: "发卡", card_lose: "挂失", card_replace: "补卡",
    card_issue_title: "发卡 · {name}", card_no_swipe: "卡号（在读卡器上刷新卡，或输入卡号）",
    card_issue_hint: "刷一张空白卡，核对卡号后按 Enter 确认绑定到这位会员。",
    card_issued: "已发卡 {no} 给 {name}", card_read: "已读卡 {no}，按 Enter 确认",
    card_lose_title: "挂失 · {name}", card_lose_warning: "挂失后这张卡立即停用，所有门店都不能再刷；不能撤销。储值和积分留在会员身上，可以补卡。",
    card_lost_done: "卡 {no} 已挂失，已停用", no_active_card: "这位会员没有在用的实体卡",
    card_replace_title: "补卡 · {name}", card_replace_old: "换掉哪张卡：", card_no_swipe_new: "新卡号（在读卡器上刷新卡）",
    card_replace_hint: "旧卡作废；储值、积分和等级都留在会员身上。", card_replaced_done: "已补卡，新卡 {no} 可以使用",
    no_card_to_replace: "这位会员没有可以补的卡",
  },
  en: {
    all: "All", colon: ": ", seats: "{n} seats", till: "Till", tables: "Tables", order: "Order", member: "Member", pay: "Pay", refund: "Refund", resync: "Resync",
    logout: "Log out", login_title: "Cashier login", username: "Username", password: "Password", login: "Log in",
    clear_table: "Clear", st_free: "Free", st_ordering: "Ordering", st_ordered: "Ordered", st_billed: "Bill sent",
    st_paid: "Paid", lines: "Lines", send: "Send", add_more: "Add dishes", bill: "Bill", stored_value: "Stored value",
    sv_all: "Use stored value", cash: "Cash", round_up: "Round up", change: "Change", to_pay: "Still due",
    settle: "Take payment", cancel: "Cancel", confirm: "Confirm",
    table_code: "Table code, Enter to open", search: "Name / pinyin / initials (2*ljcr for two)",
    note: "Note (less spicy, no onion…)", member_query: "Phone / swipe card / scan member code",
    online: "Online", offline: "Offline", pending: "{n} to sync",
    printer_kitchen: "Kitchen printer ", printer_receipt: "Receipt printer ", pr_paper_out: "out of paper",
    pr_paper_low: "paper low", pr_offline: "offline", pr_printer_error: "error", pr_cover_open: "cover open", guests: "{n} guests", seat_title: "Seat {code}",
    guests_label: "Guests", sold_out: "Sold out", no_table: "Choose a table first (F1)", no_lines: "Nothing ordered yet",
    sent: "Sent to the kitchen", added: "Added dishes sent to the kitchen", tier: "Tier",
    discount: "Discount", no_discount: "no discount", principal: "principal", bonus: "bonus", points: "Points",
    coupons: "Usable coupons", no_coupons: "No usable coupons", balance: "Stored value",
    offline_allowance: "offline allowance", payable: "Payable", confirm_pay: "Confirm payment",
    paid_done: "Paid, change {change}", drawer_open: "Cash drawer opened", no_order: "This table has no order yet",
    not_enough: "The tenders do not cover the bill", seated: "Table opened", cleared: "Table cleared",
    cancel_title: "Cancel the order and clear {table}", cancel_hint: "Every dish on this order was voided. Cancelling frees the table; the reason goes to the audit log.", order_cancelled: "Order cancelled; the table is free",
    member_found: "Member identified: {name}", refund_title: "Refund {no}", reason: "Reason",
    manager_user: "Manager's username", manager_password: "Manager's password", refunded: "Refunded",
    no_paid_order: "This table has no paid order to refund", resynced: "Local copy synced",
    discount_pct: "{p}% off", expires: "valid until {d}", orderno: "No. {no}", qty: "Qty",
    scan_payment: "This is a payment code: use WeChat Pay when paying (needs the server)",
    push_bill: "Push bill to WeChat", pushed: "Bill sent to {n} diner(s); waiting for WeChat Pay", pushed_none: "The bill is ready, but nobody at this table has scanned its QR code yet: ask the diners to scan it to see and pay", void: "Void", void_title: "Void: {name}", voided: "Line voided; the kitchen is told", join: "New member", join_title: "Quick join", phone: "Mobile", name: "Name", joined: "Joined: {name}",
    points_use: "Points to redeem", points_max: "up to {n}",
    wx_code: "WeChat payment code (scan)", wechat: "WeChat Pay",
    wx_waiting: "Waiting for the customer to enter the payment password… do not scan again",
    cannot_sell: "This account cannot use the till (kitchen staff: the kitchen display)", topup: "Top up",
    topup_title: "Top up · {name}", topup_amount: "Amount (yuan)", topup_rules: "Top-up offers",
    no_rules: "No top-up offers", topped_up: "Topped up: principal +{p}, bonus +{b}, balance {t}",
    no_member: "Identify the member first (F3)", reprint: "Reprint",
    shift: "Close shift", reprinted: "Receipt reprinted (marked as a reprint)",
    shift_title: "Close shift · count the cash", opening_float: "Opening float (yuan)",
    counted_cash: "Counted cash (yuan)", sales_count: "Bills paid", sales: "Sales", refunds: "Refunds",
    topups: "Top-ups", expected_cash: "Cash expected in the drawer",
    shift_closed: "Shift closed · expected {e} · counted {c} · difference {d}",
    tender_cash: "cash", tender_stored_value: "stored value", tender_wechat: "WeChat",
    // physical member cards
    cards: "Cards", no_cards: "no physical card", card_active: "in use", card_lost: "reported lost", card_replaced: "replaced",
    card_unbound: "unbound", card_issue: "Issue card", card_lose: "Report lost", card_replace: "Replace card",
    card_issue_title: "Issue a card · {name}", card_no_swipe: "Card number (swipe the new card, or type it)",
    card_issue_hint: "Swipe a blank card, check its number, then Enter to bind it to this member.",
    card_issued: "Card {no} issued to {name}", card_read: "Card {no} read; Enter to confirm",
    card_lose_title: "Report a card lost · {name}",
    card_lose_warning: "The card stops working at once, in every store; this cannot be undone. The stored value and points stay with the member, who can get a new card.",
    card_lost_done: "Card {no} reported lost; it no longer works", no_active_card: "This member has no card in use",
    card_replace_title: "Replace a card · {name}", card_replace_old: "Which card is replaced:",
    card_no_swipe_new: "New card number (swipe the new card)",
    card_replace_hint: "The old card stops working; stored value, points and tier stay with the member.",
    card_replaced_done: "Card replaced; the new card {no} works now", no_card_to_replace: "This member has no card to replace",
  },
};
window.TILL_ERRORS = {
  zh: {
    insufficient_balance: "储值余额不足", tenders_do_not_cover_total: "付款金额不足",
    tenders_exceed_total: "只有现金可以超出应付金额", dish_sold_out: "这道菜已售罄",
    offline_limit_exceeded: "离线时储值超出可用额度", tender_unavailable_offline: "网络中断，暂不能用微信支付",
    invalid_credentials: "用户名或密码错误", token_invalid: "登录已失效，请重新登录", token_missing: "请先登录",
    coupon_not_applicable: "这张优惠券不能用于本单", coupon_min_spend: "未达到优惠券的最低消费",
    order_not_open: "订单已结账", manager_approval_refused: "店长账号或密码错误", network: "连不上收银机的本地服务",
    member_not_found: "没有这位会员", needs_server: "需要联网，请稍后再试", member_exists: "这个手机号已是会员",
    payment_failed: "微信支付失败，请让顾客换一种付款方式", payment_not_completed: "顾客没有完成支付，已撤销这笔微信交易",
  },
  en: {
    insufficient_balance: "Not enough stored value", tenders_do_not_cover_total: "The tenders do not cover the bill",
    tenders_exceed_total: "Only cash may exceed the payable", dish_sold_out: "This dish is sold out",
    offline_limit_exceeded: "Offline, the member's stored value allowance is exceeded",
    tender_unavailable_offline: "WeChat Pay needs the server", invalid_credentials: "Wrong username or password",
    token_invalid: "Session expired, log in again", token_missing: "Log in first",
    coupon_not_applicable: "This coupon does not apply to this bill",
    coupon_min_spend: "The bill does not reach the coupon's minimum spend", order_not_open: "This order is paid already",
    manager_approval_refused: "The manager's username or password is wrong",
    network: "The till's local service does not answer", member_not_found: "No such member",
    member_exists: "This mobile number is already a member", login_again: "Log out and in again to use this", line_not_open: "This line is already voided",
    needs_server: "This needs the server, which cannot be reached now",
    payment_failed: "WeChat Pay failed; ask for another way to pay",
    payment_not_completed: "The customer did not complete the payment; the WeChat trade was reversed",
  },
};

// 转台 / 并台 and the diners' picks waiting for the waiter (待确认 → 确认下单).
Object.assign(window.TILL_TEXT.zh, {
  move_table: "转台", merge_table: "并台", confirm_picks: "确认下单", target_table: "目标桌号",
  move_title: "转台：把 {code} 转到", merge_title: "并台：把 {code} 并到", move_choices: "空桌：", merge_choices: "有订单的桌：",
  move_confirm: "确认把 {from} 转到 {to}？", merge_confirm: "确认把 {from} 并到 {to}？",
  move_note: "客人和订单一起转过去，后厨不会重做。", merge_note: "两桌的菜合成一张账单，{from} 变为空桌。",
  move_done: "已把 {from} 转到 {to}", merge_done: "已把 {from} 并到 {to}",
  pending_badge: "待确认 {n}", pending_tag: "待确认", no_picks: "这张桌没有待确认的菜",
  confirm_picks_title: "确认下单：{code} 顾客点的菜", picks_confirmed: "已确认 {n} 道菜，后厨开始做",
});
Object.assign(window.TILL_TEXT.en, {
  move_table: "Move", merge_table: "Merge", confirm_picks: "Confirm picks", target_table: "To table",
  move_title: "Move {code} to", merge_title: "Merge {code} into", move_choices: "Free tables: ",
  merge_choices: "Tables with an order: ", move_confirm: "Move {from} to {to}?", merge_confirm: "Merge {from} into {to}?",
  move_note: "The guests and their order move; the kitchen cooks nothing again.",
  merge_note: "One bill for both tables; the first table becomes free.",
  move_done: "Moved {from} to {to}", merge_done: "Merged {from} into {to}",
  pending_badge: "{n} to confirm", pending_tag: "to confirm", no_picks: "No picks to confirm at this table",
  confirm_picks_title: "Confirm the diners' picks at {code}", picks_confirmed: "{n} dish(es) confirmed; the kitchen starts",
});
Object.assign(window.TILL_ERRORS.zh, {
  same_table: "请选另一张桌", table_not_free: "目标桌不是空桌", no_open_order: "这张桌没有未结账的订单",
  table_paying: "这张桌正在结账，不能转台或并台", picks_changed: "这些菜已确认或已取消",
});
Object.assign(window.TILL_ERRORS.en, {
  same_table: "Choose another table", table_not_free: "That table is not free", no_open_order: "This table has no open order",
  table_paying: "This table is paying its bill; it cannot move", picks_changed: "These picks were confirmed or cancelled meanwhile",
});
// 催菜 (Alt+E): the kitchen is asked to hurry the open order's dishes not served yet.
Object.assign(window.TILL_TEXT.zh, { rush: "催菜", rushed: "已催菜，后厨已通知（第 {n} 次）" });
Object.assign(window.TILL_TEXT.en, { rush: "Rush", rushed: "The kitchen is asked to hurry (rush #{n})" });
Object.assign(window.TILL_ERRORS.zh, { rush_too_soon: "刚催过菜，请过几分钟再催", nothing_to_rush: "这一单的菜都已上齐" });
Object.assign(window.TILL_ERRORS.en, { rush_too_soon: "Rushed a moment ago; try again in a few minutes",
                                       nothing_to_rush: "Every dish of this order is served already" });
// 扫码支付, 取消 of a WeChat wait, refunds by line and approval by a manager's card.
Object.assign(window.TILL_TEXT.zh, {
  qr_pay: "扫码支付", qr_title: "扫码支付 · 打印付款码", qr_waiting: "等待顾客扫码支付 {amount}（付款码已打印）… Esc 取消",
  qr_not_printed: "付款码没有打印出来，请检查前台打印机", qr_nothing: "没有需要扫码支付的金额", qr_paid: "顾客已扫码支付",
  wx_cancelling: "正在取消微信收款…", wx_cancelled: "已取消微信收款，账单未付",
  refund_left: "可退", refund_amount: "退款金额", refund_none: "请至少选择一道菜的数量",
  refund_card_hint: "店长也可以在读卡器上刷员工卡批准", refunded_amount: "已退款 {amount}", approved_by: "批准：{name}",
});
Object.assign(window.TILL_TEXT.en, {
  qr_pay: "Scan to pay", qr_title: "Scan to pay · print the QR", qr_waiting: "Waiting for the customer to scan and pay {amount} (QR printed)… Esc cancels",
  qr_not_printed: "The QR did not print; check the front printer", qr_nothing: "Nothing is left to pay by QR", qr_paid: "The customer paid by QR",
  wx_cancelling: "Cancelling the WeChat payment…", wx_cancelled: "WeChat payment cancelled; the bill is unpaid",
  refund_left: "left", refund_amount: "Refund", refund_none: "Choose a quantity of at least one dish",
  refund_card_hint: "A manager may also swipe their staff card on the reader", refunded_amount: "Refunded {amount}",
  approved_by: "approved by {name}",
});
Object.assign(window.TILL_ERRORS.zh, {
  payment_cancelled: "已取消微信收款，账单未付", refund_exceeds_qty: "退款数量超过可退数量", nothing_to_refund: "没有可退的金额",
});
Object.assign(window.TILL_ERRORS.en, {
  payment_cancelled: "WeChat payment cancelled; the bill is unpaid", refund_exceeds_qty: "More than is left of this dish",
  nothing_to_refund: "There is nothing to refund",
});

// 规格: a dish's options chosen at the till.
Object.assign(window.TILL_TEXT.zh, {
  opt_title: "{name} · 选规格", opt_required: "必选", opt_optional: "可不选", opt_single: "单选", opt_multi: "最多 {n} 项",
  opt_keys: "数字键选本组，↑↓ 换组，Enter 确认，Esc 取消", opt_price: "单价 {p}", opt_missing: "请选择{group}",
  opt_at_most: "{group}最多选 {n} 项",
});
Object.assign(window.TILL_TEXT.en, {
  opt_title: "{name} · options", opt_required: "required", opt_optional: "optional", opt_single: "pick one", opt_multi: "up to {n}",
  opt_keys: "Digits pick in this group, ↑↓ next group, Enter confirms, Esc cancels", opt_price: "Unit price {p}",
  opt_missing: "Choose {group}", opt_at_most: "At most {n} for {group}",
});

// 充值凭条: the top-up slip printed after a top-up; Alt+P with no paid order chosen prints the last one again.
Object.assign(window.TILL_TEXT.zh, {
  slip_printed: "充值凭条已打印", slip_queued: "充值凭条等待打印，请检查前台打印机", slip_error: "充值凭条未能打印，请检查前台打印机后按 Alt+P 重打",
  slip_none: "没有小票打印机，未打印充值凭条", slip_reprinted: "已重打充值凭条（标注重打）",
  nothing_to_reprint: "没有选中已结账的订单，本机也还没有打印过充值凭条",
});
Object.assign(window.TILL_TEXT.en, {
  slip_printed: "Top-up slip printed", slip_queued: "The top-up slip is waiting for the front printer; check it",
  slip_error: "The top-up slip did not print; check the front printer, then Alt+P reprints it",
  slip_none: "No receipt printer: no top-up slip printed", slip_reprinted: "Top-up slip reprinted (marked as a reprint)",
  nothing_to_reprint: "No paid order is chosen and no top-up slip was printed here yet",
});

// 充值 by the member's WeChat payment code, scanned into the top-up dialog.
Object.assign(window.TILL_TEXT.zh, {
  topup_code: "微信付款码（扫顾客的付款码；收现金则留空）", topup_wx_read: "已读到微信付款码，按 Enter 收款",
  topup_not_wx: "这不是微信付款码：请扫顾客微信里的付款码", wx_topup_cancelled: "已取消微信收款，未充值",
  topped_up_wx: "微信充值成功：本金 +{p}，赠送 +{b}，余额 {t}",
});
Object.assign(window.TILL_TEXT.en, {
  topup_code: "WeChat payment code (scan the member's code; empty for cash)",
  topup_wx_read: "WeChat payment code read; Enter takes the payment",
  topup_not_wx: "That is not a WeChat payment code: scan the code in the member's WeChat",
  wx_topup_cancelled: "WeChat payment cancelled; nothing was topped up",
  topped_up_wx: "Topped up by WeChat: principal +{p}, bonus +{b}, balance {t}",
});

// 快捷键一览 (F12, or the footer's button): the keys themselves and their words are in keys.js.
Object.assign(window.TILL_TEXT.zh, { keys_title: "快捷键一览", keys_button: "快捷键", close: "关闭" });
Object.assign(window.TILL_TEXT.en, { keys_title: "Keyboard keys", keys_button: "Keys", close: "Close" });
