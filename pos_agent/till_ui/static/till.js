// The cashier's till. Talks only to the agent's local API on this machine (AGENT-API.md).
// Keyboard first: every action has a key, from the one table in keys.js (each button shows its key);
// touch works on the same buttons. F12 lists them all (快捷键一览).
"use strict";
(function () {
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));
  const state = {
    lang: localStorage.getItem("till.lang") || "zh",
    token: sessionStorage.getItem("till.token"),
    staff: JSON.parse(sessionStorage.getItem("till.staff") || "null"),
    tables: [], areas: [], area: null, table: null,
    menu: [], categories: [], category: null, results: [], pick: 0,
    order: null, draft: [], draftLine: -1, sentLine: -1, sendKey: null,
    member: null, coupons: new Set(), points: 0, bill: null, payKey: null, busy: false, approval: null,
    readCursor: null, picks: null, cardSwipe: null, codeScan: null,
  };

  // --- words and money ---------------------------------------------------------------------------
  function t(key, args) {
    let text = (window.TILL_TEXT[state.lang] || {})[key] || window.TILL_TEXT.zh[key] || key;
    for (const [k, v] of Object.entries(args || {})) text = text.replace("{" + k + "}", v);
    return text;
  }
  function errorText(err) {
    const known = (window.TILL_ERRORS[state.lang] || {})[err.code];
    const message = err.message || "";
    const parts = message.split(" / ");
    // The agent's own messages are "中文 / English".
    if (parts.length >= 2) return state.lang === "zh" ? parts[0] : parts.slice(1).join(" / ");
    return known || message || err.code;
  }
  function yuan(cents) {
    const sign = cents < 0 ? "-" : "";
    const abs = Math.abs(cents);
    return sign + "¥" + Math.floor(abs / 100) + "." + String(abs % 100).padStart(2, "0");
  }
  function cents(text) {
    // Yuan typed by the cashier ("120", "35.5") to integer fen, without floating point.
    const m = String(text || "").trim().match(/^(\d{1,7})(?:\.(\d{0,2}))?$/);
    if (!m) return 0;
    return parseInt(m[1], 10) * 100 + parseInt((m[2] || "").padEnd(2, "0") || "0", 10);
  }
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }
  let toastTimer = null;
  // A toast is given its words as a function, so that switching the language (Alt+L) while it
  // shows says it again in the other language: often the reason for switching.
  let toastWords = null;
  function toast(words, kind) {
    const box = $("#toast");
    toastWords = words;
    box.textContent = words();
    box.className = "toast " + (kind || "ok");
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 6000 : 3000);
  }
  function retoast() {
    const box = $("#toast");
    if (box.hidden || !toastWords) return;
    try { box.textContent = toastWords(); } catch (e) { box.hidden = true; }  // what it named is gone
  }

  // --- the local API -----------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token) headers.Authorization = "Bearer " + state.token;
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw { code: "network", message: "" };
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const err = (data && data.error) || { code: "http_" + response.status, message: "" };
      err.status = response.status;
      if (response.status === 401 && state.token) logout();
      throw err;
    }
    return data;
  }

  // --- language ----------------------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    $$("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
    $$("[data-tp]").forEach((n) => { n.placeholder = t(n.dataset.tp); });
    $("#lang").lastChild.textContent = state.lang === "zh" ? " English" : " 中文";
    renderHints();
    renderAll();
    retoast();
  }

  // --- connection state (always visible) --------------------------------------------------------
  async function pollStatus() {
    const conn = $("#conn");
    try {
      const s = await api("GET", "/api/v1/status");
      const pending = s.outbox_pending || 0;
      conn.className = "conn " + (s.online ? "on" : "off");
      conn.textContent = s.online ? t("online") + (pending ? "，" + t("pending", { n: pending }) : "")
        : t("offline") + "，" + t("pending", { n: pending });
      // A printer in trouble, in the cashier's words: 后厨打印机缺纸.
      const trouble = (s.printers || []).filter((p) => window.TILL_TEXT.zh[`pr_${p.state}`] !== undefined)
        .map((p) => t(p.role === "kitchen" ? "printer_kitchen" : "printer_receipt") + t(`pr_${p.state}`));
      $("#printers").textContent = trouble.join(" · ");
      $("#printers").hidden = trouble.length === 0;
    } catch (e) {
      conn.className = "conn off";
      conn.textContent = errorText(e);
    }
  }

  // --- login ---------------------------------------------------------------------------------------
  async function login(event) {
    event.preventDefault();
    $("#login-error").textContent = "";
    try {
      const answer = await api("POST", "/api/v1/session", { username: $("#username").value.trim(), password: $("#password").value });
      // The role decides what shows: kitchen staff have no till (their screen is the kitchen display).
      if (!["owner", "manager", "cashier"].includes(answer.staff.role)) { $("#login-error").textContent = t("cannot_sell"); return; }
      state.token = answer.token;
      state.staff = answer.staff;
      sessionStorage.setItem("till.token", answer.token);
      sessionStorage.setItem("till.staff", JSON.stringify(answer.staff));
      $("#password").value = "";
      enter();
    } catch (e) {
      $("#login-error").textContent = errorText(e);
    }
  }
  function logout() {
    state.token = null; state.staff = null;
    sessionStorage.removeItem("till.token"); sessionStorage.removeItem("till.staff");
    if ($("#keys-help").open) $("#keys-help").close();
    $("#desk").hidden = true; $("#login").hidden = false;
    $$("[data-signed-in]").forEach((n) => { n.hidden = true; });
    $("#username").focus();
  }
  async function enter() {
    $("#login").hidden = true; $("#desk").hidden = false;
    $$("[data-signed-in]").forEach((n) => { n.hidden = false; });
    const manager = ["owner", "manager"].includes(state.staff.role);
    $$("[data-role=manager]").forEach((n) => { n.hidden = !manager; });
    $("#who").textContent = `${state.staff.name} · ${state.staff.role}`;
    await Promise.all([loadMenu(), loadTables()]);
    $("#table-code").focus();
    followReads();
  }

  // --- tables ------------------------------------------------------------------------------------
  async function loadTables() {
    try {
      const answer = await api("GET", "/api/v1/tables");
      state.tables = answer.tables; state.areas = answer.areas;
      if (state.area === null || !state.areas.includes(state.area)) state.area = state.areas[0] || "";
      const before = state.table ? state.table.state : null;
      const pendingBefore = state.table ? state.table.pending || 0 : 0;
      if (state.table) state.table = state.tables.find((x) => x.code === state.table.code) || null;
      renderTables();
      if (state.table && (state.table.pending || 0) !== pendingBefore) { await loadPicks(); renderOrder(); }
      // Paid elsewhere (a diner's WeChat Pay on a pushed bill): the order panel follows.
      if (state.table && before && before !== "paid" && state.table.state === "paid" && state.order
          && state.order.status === "open") { await selectTable(state.table.code); }
    } catch (e) { if (e.status !== 401) toast(() => errorText(e), "error"); }
  }
  function renderTables() {
    const areas = $("#areas");
    areas.replaceChildren(...state.areas.map((a, i) => el("button", {
      type: "button", role: "tab", class: a === state.area ? "on" : "", "aria-selected": a === state.area ? "true" : "false",
      onclick: () => { state.area = a; renderTables(); },
    }, a || t("tables"), areaKey(i) ? " " : null, areaKey(i) ? el("kbd", {}, areaKey(i)) : null)));
    const grid = $("#table-grid");
    grid.replaceChildren(...state.tables.filter((x) => x.area === state.area).map((x) => el("button", {
      type: "button", class: `tile ${x.state}${state.table && state.table.code === x.code ? " sel" : ""}`,
      "data-table": x.code, onclick: () => openTable(x.code),
    }, el("b", {}, x.code), el("span", { class: "st-label" }, t("st_" + x.state)),
    el("small", {}, x.guests ? t("guests", { n: x.guests }) : t("seats", { n: x.seats })),
    x.order && x.order.status === "open" ? el("small", {}, yuan(x.order.subtotal_cents)) : null,
    x.pending ? el("em", { class: "badge", "data-pending": x.pending }, t("pending_badge", { n: x.pending })) : null)));
  }
  async function openTable(code) {
    const table = state.tables.find((x) => x.code.toUpperCase() === code.trim().toUpperCase());
    if (!table) { toast(() => errorText({ message: "本店没有这张桌 / This store has no such table" }), "error"); return; }
    state.area = table.area;
    if (table.state === "free" || table.state === "paid") {
      const guests = await ask(t("seat_title", { code: table.code }), [
        { name: "guests", label: t("guests_label"), value: String(Math.min(table.seats || 2, 99)), inputmode: "numeric" }]);
      if (!guests) return;
      // The table being seated is the current one at once: dishes typed meanwhile are not lost.
      state.table = table; state.order = null; state.bill = null;
      state.draft = []; state.draftLine = -1; state.sendKey = null;
      $("#search").focus();
      try {
        state.table = await api("POST", `/api/v1/tables/${encodeURIComponent(table.code)}/seat`, { guests: parseInt(guests.guests, 10) || 0 });
        toast(() => t("seated"));
      } catch (e) { toast(() => errorText(e), "error"); return; }
      await loadTables();
    }
    await selectTable(table.code);
    $("#search").focus();
  }
  async function selectTable(code) {
    const same = state.table && state.table.code === code;
    state.table = state.tables.find((x) => x.code === code) || null;
    if (!same) {
      state.draft = []; state.draftLine = -1; state.sendKey = null;
      state.order = null; state.bill = null; state.payKey = null; state.coupons = new Set();
    }
    // The same table again keeps the order it has (a table list read before that order was sent
    // does not know it yet): never a second order for one table by a race.
    if (state.table && state.table.order) {
      try { state.order = await api("GET", `/api/v1/orders/${state.table.order.client_order_id}`); } catch (e) { toast(() => errorText(e), "error"); }
    }
    await loadPicks();
    renderTables(); renderOrder();
    await loadBill();
  }
  async function clearTable() {
    if (!state.table) { toast(() => t("no_table"), "error"); return; }
    const order = state.order;
    if (order && order.status === "open" && order.client_order_id && !order.items.length) {
      // 撤单: the party left and every dish was voided: the empty order is cancelled (with a
      // reason, audited on the server), which frees the table.
      const ok = await ask(t("cancel_title", { table: state.table.code }), [{ name: "reason", label: t("reason"), value: "" }],
        el("p", { class: "warn" }, t("cancel_hint")),
        async (v) => api("POST", `/api/v1/orders/${order.client_order_id}/cancel`, { reason: v.reason }));
      if (!ok) return;
      toast(() => t("order_cancelled"));
    } else {
      try {
        await api("POST", `/api/v1/tables/${encodeURIComponent(state.table.code)}/clear`, {});
        toast(() => t("cleared"));
      } catch (e) { toast(() => errorText(e), "error"); return; }
    }
    state.member = null; state.order = null; state.bill = null; state.coupons = new Set(); renderMember();
    await loadTables(); await selectTable(state.table.code);
  }

  // --- the menu and the order ------------------------------------------------------------------
  async function loadMenu() {
    try {
      const answer = await api("GET", "/api/v1/till/menu");
      state.menu = answer.dishes; state.categories = answer.categories;
      search();
    } catch (e) { if (e.status !== 401) toast(() => errorText(e), "error"); }
  }
  function parseSearch() {
    const raw = $("#search").value.trim();
    const m = raw.match(/^(\d{1,2})\*(.*)$/);
    return m ? { qty: Math.max(1, parseInt(m[1], 10)), q: m[2].trim() } : { qty: 1, q: raw };
  }
  function matches(dish, q) {
    // The same keys as tablerules.dish_search (the server computes pinyin and initials).
    const s = q.toLowerCase().replace(/\s+/g, "");
    if (!s) return true;
    return dish.name.toLowerCase().includes(s) || (dish.name_en || "").toLowerCase().replace(/\s+/g, "").includes(s)
      || dish.initials.startsWith(s) || dish.pinyin.startsWith(s) || dish.pinyin.includes(s);
  }
  function rank(dish, s) {
    if (dish.initials === s) return 0;
    if (dish.initials.startsWith(s)) return 1;
    if (dish.name.startsWith(s)) return 2;
    if (dish.pinyin.startsWith(s)) return 3;
    return 4;
  }
  function search() {
    const { q } = parseSearch();
    const s = q.toLowerCase().replace(/\s+/g, "");
    state.results = state.menu.filter((d) => (!state.category || d.category === state.category) && matches(d, q))
      .sort((a, b) => rank(a, s) - rank(b, s) || a.id - b.id).slice(0, 40);
    state.pick = Math.min(state.pick, Math.max(0, state.results.length - 1));
    renderResults();
  }
  function renderResults() {
    $("#categories").replaceChildren(el("button", { type: "button", class: state.category ? "" : "on", onclick: () => { state.category = null; search(); } }, t("all")),
      ...state.categories.map((c) => el("button", { type: "button", class: state.category === c ? "on" : "", onclick: () => { state.category = c; search(); } }, c)));
    $("#results").replaceChildren(...state.results.map((d, i) => el("li", {
      role: "option", class: (i === state.pick ? "pick " : "") + (d.is_sold_out ? "out" : ""), "aria-selected": i === state.pick ? "true" : "false",
      "data-dish": d.id, onclick: () => { state.pick = i; addPicked(); },
    }, el("span", {}, state.lang === "en" && d.name_en ? d.name_en : d.name), el("small", {}, d.initials),
    d.is_sold_out ? el("em", {}, t("sold_out")) : el("b", {}, yuan(d.price_cents)))));
  }
  async function addPicked() {
    const dish = state.results[state.pick];
    if (!dish) return;
    if (dish.is_sold_out) { toast(() => `${dish.name} ${t("sold_out")}`, "error"); return; }
    if (!state.table) { toast(() => t("no_table"), "error"); return; }
    const { qty } = parseSearch();
    const note = $("#note").value.trim();
    // A dish with option groups (辣度, 份量 …): its options are chosen first (Esc adds nothing).
    const picked = (dish.options || []).length ? await chooseOptions(dish) : { ids: [], names: [], extra: 0 };
    if (!picked) { $("#search").focus(); return; }
    const optKey = picked.ids.slice().sort((a, b) => a - b).join(",");
    // The same dish with other options (or another note) is another line.
    const same = state.draft.findIndex((l) => l.dish_id === dish.id && l.note === note && l.optKey === optKey);
    if (same >= 0) { state.draft[same].qty = Math.min(99, state.draft[same].qty + qty); state.draftLine = same; }
    else {
      state.draft.push({ dish_id: dish.id, name: dish.name, price_cents: dish.price_cents + picked.extra, qty, note,
        option_ids: picked.ids, options: picked.names, extra_cents: picked.extra, optKey });
      state.draftLine = state.draft.length - 1;
    }
    state.sendKey = null;
    $("#search").value = ""; $("#note").value = "";
    search(); renderOrder();
    $("#search").focus();
  }
  function changeQty(delta) {
    const line = state.draft[state.draftLine];
    if (!line) return;
    line.qty += delta;
    if (line.qty <= 0) { state.draft.splice(state.draftLine, 1); state.draftLine = state.draft.length - 1; }
    else line.qty = Math.min(99, line.qty);
    state.sendKey = null;
    renderOrder();
  }
  function renderOrder() {
    const tbl = state.table;
    $("#order-title").textContent = tbl ? `${tbl.code} · ${t("st_" + tbl.state)}${tbl.guests ? " · " + t("guests", { n: tbl.guests }) : ""}${state.order ? " · " + t("orderno", { no: state.order.order_no }) : ""}` : "";
    const sent = (state.order ? state.order.items : []).map((l, i) => el("li", {
      class: "sent" + (i === state.sentLine ? " pick" : ""), "data-line": i,
      onclick: () => { state.sentLine = i; state.draftLine = -1; renderOrder(); } },
      el("span", {}, `${l.qty} × ${l.name}`), lineDetail(l), el("b", {}, yuan(l.amount_cents))));
    const draft = state.draft.map((l, i) => el("li", { class: "draft" + (i === state.draftLine ? " pick" : ""), onclick: () => { state.draftLine = i; renderOrder(); } },
      el("span", {}, `${l.qty} × ${l.name}`), lineDetail(l), el("b", {}, yuan(l.price_cents * l.qty))));
    const picks = pickLines();
    $("#lines").replaceChildren(...sent, ...picks, ...draft);
    if (!sent.length && !draft.length && !picks.length) $("#lines").replaceChildren(el("li", { class: "muted" }, t("no_lines")));
    $("#send-label").textContent = state.order && state.order.status === "open" ? t("add_more") : t("send");
  }
  async function send() {
    if (state.busy) return;
    if (!state.table) { toast(() => t("no_table"), "error"); return; }
    if (!state.draft.length) { toast(() => t("no_lines"), "error"); return; }
    const items = state.draft.map((l) => ({ dish_id: l.dish_id, qty: l.qty, option_ids: l.option_ids && l.option_ids.length ? l.option_ids : undefined, note: l.note || undefined }));
    state.sendKey = state.sendKey || uuid();  // the same key again if this send is retried
    state.busy = true; $("#send").disabled = true;
    try {
      if (state.order && state.order.status === "open") {
        state.order = await api("POST", `/api/v1/orders/${state.order.client_order_id}/items`, { items, idempotency_key: state.sendKey });
        toast(() => t("added"));
      } else {
        state.order = await api("POST", "/api/v1/orders", { client_order_id: state.sendKey, table: state.table.code, items });
        toast(() => t("sent"));
      }
      state.draft = []; state.draftLine = -1; state.sendKey = null;
      await loadTables();
      state.table = state.tables.find((x) => x.code === state.table.code) || state.table;
      renderOrder(); await loadBill();
    } catch (e) {
      toast(() => errorText(e), "error");
    } finally {
      state.busy = false; $("#send").disabled = false;
    }
  }

  // --- members -----------------------------------------------------------------------------------
  async function identify(params, quiet) {
    try {
      state.member = await api("GET", "/api/v1/members/identify?" + new URLSearchParams(params));
      state.coupons = new Set(); state.points = 0; state.payKey = null;
      if (!quiet) toast(() => t("member_found", { name: state.member.name }));
      renderMember(); await loadBill();
    } catch (e) { toast(() => errorText(e), "error"); }
  }
  // Every read reaches this one handler: the serial card reader and scanner (through the agent's
  // read events) and a keyboard-wedge scanner typing into the page.
  function handleScan(code, kind, extra) {
    code = String(code || "").trim();
    if (!code) return;
    if (state.approval && kind === "card") { state.approval(code, extra); return; }  // a manager's card approves
    if (!kind && /^1[0-5]\d{16}$/.test(code)) kind = "wechat_pay";
    if (state.codeScan) { state.codeScan(code, kind); return; }  // the top-up dialog takes the payment code
    if (kind === "wechat_pay" && state.bill) { $("#wx-code").value = code; state.payKey = null; renderBill(); $("#wx-code").focus(); return; }
    if (kind === "wechat_pay" || kind === "alipay") { toast(() => t("scan_payment"), "error"); return; }
    // 发卡 / 补卡: the card on the reader goes to the open card dialog, by its printed number.
    if (kind === "card" && state.cardSwipe) { state.cardSwipe((extra && extra.card_decimal) || code, code); return; }
    if (kind === "card") identify({ card: code, card_decimal: (extra && extra.card_decimal) || "" });
    else identify({ code });
  }
  window.tillScan = handleScan;
  function renderMember() {
    const box = $("#member");
    const m = state.member;
    if (!m) { box.replaceChildren(); return; }
    const sv = m.stored_value;
    const split = sv.principal_cents === null ? "" : ` (${t("principal")} ${yuan(sv.principal_cents)} + ${t("bonus")} ${yuan(sv.bonus_cents)})`;
    const pct = (m.tier && m.tier.discount_percent) || 0;
    box.replaceChildren(
      el("p", { class: "mwho" }, el("b", { id: "member-name" }, m.name), " ", m.phone, " · ", m.member_no),
      el("p", {}, `${t("tier")}${t("colon")}${(m.tier && m.tier.name) || "—"} · ${pct ? t("discount_pct", { p: pct }) : t("no_discount")}`),
      el("p", {}, `${t("balance")}${t("colon")}`, el("b", { id: "member-balance" }, yuan(sv.total_cents)), split,
        m.source === "local" && m.allowance_cents !== null ? ` · ${t("offline_allowance")} ${yuan(m.allowance_cents)}` : ""),
      el("p", {}, `${t("points")}${t("colon")}${m.points}`,
        m.points > 0 && m.source === "server" ? el("label", { class: "pts" }, ` · ${t("points_use")} `,
          el("input", { id: "points", inputmode: "numeric", maxlength: 9, value: state.points || "", onchange: (ev) => usePoints(ev.target.value) }),
          state.bill && state.bill.max_points_redeemable ? ` ${t("points_max", { n: state.bill.max_points_redeemable })}` : "") : null),
      cardsLine(m),
      el("p", { class: "muted" }, m.coupons.length ? t("coupons") : t("no_coupons")),
      el("ul", { class: "coupons" }, ...m.coupons.map((c, i) => el("li", {},
        el("label", {}, el("input", { type: "checkbox", "data-coupon": c.id, checked: state.coupons.has(c.id),
          onchange: (ev) => { toggleCoupon(c.id, ev.target.checked); } }),
        ` ${c.name} · ${state.lang === "en" ? c.terms_en || c.terms : c.terms}`,
        keysOf("coupon")[i] ? el("kbd", {}, keysOf("coupon")[i]) : null)))));
  }
  async function usePoints(text) {
    const n = parseInt(String(text).trim() || "0", 10);
    state.points = Number.isFinite(n) && n > 0 ? Math.min(n, state.member ? state.member.points : 0) : 0;
    state.payKey = null;
    await loadBill(); renderMember();
  }
  async function join() {
    const values = await ask(t("join_title"), [
      { name: "phone", label: t("phone"), inputmode: "numeric" }, { name: "name", label: t("name") }], null,
    async (v) => api("POST", "/api/v1/members", { phone: v.phone, name: v.name }));
    if (!values) return;
    state.member = values.result; state.coupons = new Set(); state.points = 0; state.payKey = null;
    toast(() => t("joined", { name: state.member.name }));
    renderMember(); await loadBill();
  }
  async function toggleCoupon(id, on) {
    if (on) state.coupons.add(id); else state.coupons.delete(id);
    state.payKey = null;
    renderMember(); await loadBill();
  }

  // --- the bill and paying -----------------------------------------------------------------------
  async function loadBill() {
    if (!state.order || state.order.status !== "open") { state.bill = null; renderBill(); return; }
    const params = new URLSearchParams();
    if (state.member) params.set("member_id", state.member.id);
    if (state.coupons.size) params.set("coupon_ids", Array.from(state.coupons).join(","));
    if (state.points) params.set("points", state.points);
    try {
      state.bill = await api("GET", `/api/v1/orders/${state.order.client_order_id}/bill?${params}`);
    } catch (e) {
      toast(() => errorText(e), "error");
      if (state.coupons.size || state.points) { state.coupons = new Set(); state.points = 0; renderMember(); return loadBill(); }
      state.bill = null;
    }
    renderBill();
    if (state.member) renderMember();  // the points a bill can take
  }
  function tenders() {
    const sv = cents($("#sv").value), cash = cents($("#cash").value);
    const code = $("#wx-code").value.trim();
    const payable = state.bill ? state.bill.payable_cents : 0;
    const due = Math.max(0, payable - sv);
    // A scanned WeChat payment code pays what stored value and cash leave (MICROPAY).
    const wechat = /^1[0-5]\d{16}$/.test(code) ? Math.max(0, due - cash) : 0;
    return { sv, cash, wechat, code, payable, due, change: Math.max(0, cash - due), short: Math.max(0, due - cash - wechat) };
  }
  function renderBill() {
    const b = state.bill;
    const rows = b ? b.steps.map((s) => el("tr", { class: s.kind },
      el("td", {}, state.lang === "en" ? s.label_en || s.label : s.label), el("td", {}, yuan(s.amount_cents)))) : [];
    $("#steps").replaceChildren(...rows);
    const tt = tenders();
    $("#change").textContent = yuan(tt.change);
    $("#short").textContent = yuan(tt.short);
    $("#settle").disabled = !b || !b.subtotal_cents;  // nothing on the bill: nothing to collect (Alt+C 撤单)
  }
  function setCash(c) { $("#cash").value = (c / 100).toFixed(0); state.payKey = null; renderBill(); $("#cash").focus(); }
  function quickCash(kind) {
    if (!state.bill) return;
    const { due } = tenders();
    if (kind === "round") setCash(Math.ceil(due / 100) * 100);
    else setCash(kind);
  }
  function svAll() {
    if (!state.bill || !state.member) return;
    const use = Math.min(state.member.stored_value.total_cents, state.bill.payable_cents);
    $("#sv").value = `${Math.floor(use / 100)}.${String(use % 100).padStart(2, "0")}`;
    state.payKey = null; renderBill(); $("#cash").focus();
  }
  async function pay() {
    if (state.busy) return;
    if (!state.order || state.order.status !== "open" || !state.bill) { toast(() => t("no_order"), "error"); return; }
    const tt = tenders();
    if (tt.short > 0 || (tt.sv + tt.cash + tt.wechat) === 0) { toast(() => t("not_enough"), "error"); return; }
    const list = [];
    if (tt.sv) list.push({ type: "stored_value", amount_cents: tt.sv });
    if (tt.cash) list.push({ type: "cash", amount_cents: tt.cash });
    if (tt.wechat) list.push({ type: "wechat", amount_cents: tt.wechat, auth_code: tt.code });
    const summary = el("dl", { class: "confirm" },
      el("dt", {}, t("payable")), el("dd", { id: "confirm-payable" }, yuan(tt.payable)),
      tt.sv ? el("dt", {}, t("stored_value")) : null, tt.sv ? el("dd", {}, yuan(tt.sv)) : null,
      tt.cash ? el("dt", {}, t("cash")) : null, tt.cash ? el("dd", {}, yuan(tt.cash)) : null,
      tt.wechat ? el("dt", {}, t("wechat")) : null, tt.wechat ? el("dd", { id: "confirm-wechat" }, yuan(tt.wechat)) : null,
      el("dt", {}, t("change")), el("dd", { id: "confirm-change" }, yuan(tt.change)));
    // One key per payment: a retry after a lost answer sends the same key and is applied once.
    state.payKey = state.payKey || uuid();
    const key = state.payKey;
    const cid = state.order.client_order_id;
    const ok = await ask(t("confirm_pay"), [], summary, async () => {
      if (tt.wechat) waiting(t("wx_waiting"));
      const body = { tenders: list, idempotency_key: key };
      if (state.member) body.member_id = state.member.id;
      if (state.coupons.size) body.coupon_ids = Array.from(state.coupons);
      if (state.points) body.points = state.points;
      return api("POST", `/api/v1/orders/${cid}/checkout`, body);
    }, tt.wechat ? () => cancelWechat(cid, key, {}) : null);
    if (!ok && tt.wechat) { state.payKey = null; return; }
    if (!ok) return;
    const result = ok.result;
    state.payKey = null;
    toast(() => t("paid_done", { change: yuan(result.change_cents) }) + (result.drawer === "with_receipt" ? " · " + t("drawer_open") : ""));
    $("#sv").value = ""; $("#cash").value = ""; $("#wx-code").value = "";
    if (state.member) await identify({ code: state.member.member_no }, true);  // the new balance
    await loadTables(); await selectTable(state.table.code);
  }
  async function refund() {
    const order = state.order && state.order.status === "paid" ? state.order : null;
    if (!order) { toast(() => t("no_paid_order"), "error"); return; }
    let quote;
    try { quote = await api("GET", `/api/v1/orders/${order.client_order_id}/refund-quote`); }
    catch (e) { toast(() => errorText(e), "error"); return; }
    const key = uuid();
    const open = quote.lines.filter((l) => l.refundable_qty > 0);
    const qtyInputs = open.map((l) => el("input", { type: "number", min: 0, max: l.refundable_qty, value: l.refundable_qty,
      "data-line": l.line_id, "data-left": l.refundable_qty, class: "refund-qty", "aria-label": l.name }));
    const amount = el("strong", { id: "refund-amount" }, yuan(quote.refund_cents));
    // What the cashier chose: null for everything left (the whole order), else [{line_id, qty}].
    const chosen = () => {
      const lines = qtyInputs.map((n) => ({ line_id: parseInt(n.dataset.line, 10), qty: Math.max(0, Math.min(parseInt(n.value || "0", 10) || 0, parseInt(n.dataset.left, 10))) }));
      return lines.every((l, i) => l.qty === parseInt(qtyInputs[i].dataset.left, 10)) ? null : lines.filter((l) => l.qty > 0);
    };
    let quoting = null;
    const requote = () => {
      clearTimeout(quoting);
      quoting = setTimeout(async () => {
        const lines = chosen();
        if (lines && !lines.length) { amount.textContent = yuan(0); return; }
        const q = lines ? "?lines=" + lines.map((l) => `${l.line_id}:${l.qty}`).join(",") : "";
        try { amount.textContent = yuan((await api("GET", `/api/v1/orders/${order.client_order_id}/refund-quote${q}`)).refund_cents); }
        catch (e) { $("#dialog-error").className = "error"; $("#dialog-error").textContent = errorText(e); }
      }, 150);
    };
    qtyInputs.forEach((n) => n.addEventListener("input", requote));
    const table = el("table", { class: "refund-lines" }, ...open.map((l, i) => el("tr", {},
      el("td", {}, l.name), el("td", {}, `${t("refund_left")} ${l.refundable_qty}`), el("td", {}, qtyInputs[i]))));
    const extra = el("div", {}, table, el("p", { class: "refund-amount" }, t("refund_amount"), " ", amount),
      el("p", { class: "hint" }, t("refund_card_hint")));
    // While this dialog is open a swipe on the card reader is the manager's approval, not a member.
    let card = null;
    state.approval = (code, read) => { card = { code, decimal: (read && read.card_decimal) || "" }; $("#dialog-form").requestSubmit(); };
    const ok = await ask(t("refund_title", { no: order.order_no }), [
      { name: "reason", label: t("reason") }, { name: "manager_username", label: t("manager_user") },
      { name: "manager_password", label: t("manager_password"), type: "password" }], extra, async (values) => {
      const swiped = card;
      card = null;
      const lines = chosen();
      if (lines && !lines.length) throw { code: "nothing_to_refund", message: t("refund_none") };
      const body = { reason: values.reason, idempotency_key: key };
      if (swiped) { body.manager_card = swiped.code; body.manager_card_decimal = swiped.decimal; }
      else { body.manager_username = values.manager_username; body.manager_password = values.manager_password; }
      if (lines) body.lines = lines;
      return api("POST", `/api/v1/orders/${order.client_order_id}/refund`, body);
    }).finally(() => { state.approval = null; });
    if (!ok) return;
    toast(() => t("refunded_amount", { amount: yuan(ok.result.refunded_cents) }) + " · " + t("approved_by", { name: ok.result.approved_by }));
    await loadTables(); await selectTable(state.table.code);
  }
  async function reprint() {
    const order = state.order && state.order.status !== "open" ? state.order : null;
    if (!order) { await reprintTopUpSlip(); return; }
    try { await api("POST", `/api/v1/orders/${order.client_order_id}/reprint`, {}); toast(() => t("reprinted")); }
    catch (e) { toast(() => errorText(e), "error"); }
  }
  function byTender(map) {
    return Object.entries(map || {}).map(([k, v]) => `${t("tender_" + k)} ${yuan(v)}`).join(" · ") || "—";
  }
  async function closeShift() {
    let current;
    try { current = await api("GET", "/api/v1/till/shift?opening_float_cents=0"); }
    catch (e) { toast(() => errorText(e), "error"); return; }
    const s = current.summary;
    const expected = el("dd", { id: "shift-expected" }, yuan(s.expected_cash_cents));
    const summary = el("dl", { class: "confirm" },
      el("dt", {}, t("sales_count")), el("dd", { id: "shift-count" }, String(s.sales_count)),
      el("dt", {}, t("sales")), el("dd", {}, byTender(s.sales_by_tender)),
      el("dt", {}, t("refunds")), el("dd", {}, byTender(s.refunds_by_tender)),
      el("dt", {}, t("topups")), el("dd", {}, byTender(s.topups_by_tender)),
      el("dt", {}, t("expected_cash")), expected);
    const key = uuid();  // one key for this close: a retry closes once
    const pending = ask(t("shift_title"), [
      { name: "opening", label: t("opening_float"), value: "0", inputmode: "decimal" },
      { name: "counted", label: t("counted_cash"), value: "", inputmode: "decimal" }], summary, async (v) =>
      api("POST", "/api/v1/till/shift/close", { opening_float_cents: cents(v.opening), counted_cash_cents: cents(v.counted), idempotency_key: key }));
    const opening = $("#dialog-body input[name=opening]");
    opening.addEventListener("input", () => { expected.textContent = yuan(s.expected_cash_cents + cents(opening.value)); });
    const ok = await pending;
    if (!ok) return;
    const r = ok.result;
    toast(() => t("shift_closed", { e: yuan(r.summary.expected_cash_cents), c: yuan(r.counted_cash_cents), d: yuan(r.difference_cents) }));
  }
  // 充值 (Alt+T): cash, or the member's WeChat payment code scanned into the dialog (the scanner
  // fills it; Esc while the member types the password cancels, and the trade is reversed).
  async function topUp() {
    if (!state.member) { toast(() => t("no_member"), "error"); return; }
    let rules = [];
    try { rules = (await api("GET", "/api/v1/till/topup-rules")).rules; } catch (e) { toast(() => errorText(e), "error"); return; }
    const list = el("ul", { class: "rules", id: "topup-rules" }, ...(rules.length
      ? rules.map((r) => el("li", {}, state.lang === "en" ? r.label_en : r.label)) : [el("li", { class: "muted" }, t("no_rules"))]));
    const key = uuid();  // one key for this dialog: a retry (another code after a refusal) is applied once
    const memberId = state.member.id;
    let wechat = false;
    state.codeScan = (code, kind) => {
      const box = $("#dialog-body").querySelector("input[name=code]");
      if (kind !== "wechat_pay" || !box) { $("#dialog-error").className = "error"; $("#dialog-error").textContent = t("topup_not_wx"); return; }
      box.value = code; $("#dialog-error").className = "waiting"; $("#dialog-error").textContent = t("topup_wx_read");
      $("#dialog-ok").focus();
    };
    const ok = await ask(t("topup_title", { name: state.member.name }), [
      { name: "amount", label: t("topup_amount"), value: rules.length ? String(rules[0].min_cents / 100) : "", inputmode: "decimal" },
      { name: "code", label: t("topup_code"), value: "", inputmode: "numeric" }],
    el("div", {}, el("p", { class: "muted" }, t("topup_rules")), list), async (v) => {
      const amount = cents(v.amount);
      if (!amount) throw { code: "validation_error", message: "请输入充值金额 / Type the amount" };
      const code = v.code.replace(/\s+/g, "");
      wechat = Boolean(code);
      if (wechat && !/^1[0-5]\d{16}$/.test(code)) throw { code: "validation_error", message: t("topup_not_wx") };
      const body = { amount_cents: amount, idempotency_key: key };
      if (wechat) { body.auth_code = code; waiting(t("wx_waiting")); }
      return api("POST", `/api/v1/members/${memberId}/topups`, body).catch((e) => {
        if (e.code === "payment_cancelled") e.cancelledText = t("wx_topup_cancelled");
        throw e;
      });
    }, () => {
      if (!wechat) return;
      waiting(t("wx_cancelling"));
      api("POST", `/api/v1/members/${memberId}/topups/wechat-cancel`, { idempotency_key: key })
        .catch((e) => { $("#dialog-error").className = "error"; $("#dialog-error").textContent = errorText(e); });
    }).finally(() => { state.codeScan = null; });
    if (!ok) return;
    const r = ok.result;
    toast(() => t(wechat ? "topped_up_wx" : "topped_up", { p: yuan(r.principal_cents), b: yuan(r.bonus_cents), t: yuan(r.stored_value.total_cents) })
      + " · " + t("slip_" + (r.slip || "error")), r.slip === "printed" ? "ok" : "error");
    await identify({ code: state.member.member_no }, true);
  }
  // 充值凭条 again (Alt+P when no paid order is chosen): the last top-up slip printed here, marked 重打.
  async function reprintTopUpSlip() {
    try {
      const r = await api("POST", "/api/v1/till/topups/reprint", {});
      toast(() => t(r.slip === "printed" ? "slip_reprinted" : "slip_" + r.slip), r.slip === "printed" ? "ok" : "error");
    } catch (e) { toast(() => e.code === "nothing_to_reprint" ? t("nothing_to_reprint") : errorText(e), "error"); }
  }
  async function pushBill() {
    if (!state.order || state.order.status !== "open") { toast(() => t("no_order"), "error"); return; }
    try {
      const pushed = await api("POST", `/api/v1/orders/${state.order.client_order_id}/push-bill`, {});
      // Nobody to send it to yet: the bill waits on the table's page, the diners must scan.
      if (pushed.recipients) toast(() => t("pushed", { n: pushed.recipients }));
      else toast(() => t("pushed_none"), "error");
      await loadTables(); renderOrder();
    } catch (e) { toast(() => errorText(e), "error"); }
  }
  async function voidLine() {
    if (!state.order || state.order.status !== "open" || !state.order.items.length) { toast(() => t("no_order"), "error"); return; }
    const index = state.sentLine >= 0 && state.sentLine < state.order.items.length ? state.sentLine : state.order.items.length - 1;
    const line = state.order.items[index];
    const cid = state.order.client_order_id;
    const ok = await ask(t("void_title", { name: `${line.qty} × ${line.name}` }), [{ name: "reason", label: t("reason"), value: "" }], null,
      async (v) => api("POST", `/api/v1/orders/${cid}/void`, line.line_id ? { line_id: line.line_id, reason: v.reason } : { index, reason: v.reason }));
    if (!ok) return;
    state.order = ok.result; state.sentLine = -1; state.payKey = null;
    toast(() => t("voided"));
    renderOrder(); await loadTables(); await loadBill();
  }
  async function rushOrder() {  // 催菜: the kitchen prints a short slip; the display puts the order on top
    if (!state.order || !state.order.client_order_id) { toast(() => t("no_order"), "error"); return; }
    try {
      const rushed = await api("POST", `/api/v1/orders/${state.order.client_order_id}/rush`, {});
      toast(() => t("rushed", { n: rushed.rush_no }));
    } catch (e) { toast(() => errorText(e), "error"); }
  }
  async function resync() {
    try { await api("POST", "/api/v1/local-copy/resync", {}); toast(() => t("resynced")); await loadMenu(); await loadTables(); }
    catch (e) { toast(() => errorText(e), "error"); }
  }

  // --- 转台 / 并台, and the diners' picks waiting for the waiter (待确认 → 确认下单) --------------
  async function moveTable(kind) {
    if (!state.table) { toast(() => t("no_table"), "error"); return; }
    const from = state.table.code;
    const fits = state.tables.filter((x) => x.code !== from && (kind === "move" ? x.state === "free" : ["ordered", "ordering"].includes(x.state)));
    const chosen = await ask(t(kind + "_title", { code: from }), [{ name: "code", label: t("target_table") }],
      el("p", { class: "muted", id: "move-choices" }, t(kind + "_choices"), fits.map((x) => x.code).join(" ") || "—"));
    if (!chosen || !chosen.code) return;
    const to = chosen.code.toUpperCase();
    const key = uuid();  // one key for this move: a retry moves once
    const ok = await ask(t(kind + "_confirm", { from, to }), [], el("p", { class: "muted" }, t(kind + "_note", { from })), async () =>
      api("POST", `/api/v1/tables/${encodeURIComponent(from)}/${kind}`, kind === "move" ? { to, idempotency_key: key } : { into: to, idempotency_key: key }));
    if (!ok) return;
    toast(() => t(kind + "_done", { from, to: ok.result.to.code }));
    await loadTables(); await selectTable(ok.result.to.code);
  }
  async function loadPicks() {
    state.picks = null;
    if (!state.table || !state.table.pending) return;
    try { state.picks = await api("GET", `/api/v1/tables/${encodeURIComponent(state.table.code)}/picks`); }
    catch (e) { toast(() => errorText(e), "error"); }
  }
  function pickLines() {
    return (state.picks ? state.picks.lines : []).map((l) => el("li", { class: "picked", "data-pick": l.id },
      el("span", {}, `${l.qty} × ${state.lang === "en" && l.name_en ? l.name_en : l.name}`, el("em", { class: "badge" }, t("pending_tag"))),
      el("small", {}, [l.options.join(" / "), l.note, l.added_by].filter(Boolean).join(" · ")), el("b", {}, yuan(l.amount_cents))));
  }
  async function confirmPicks() {
    if (!state.table || !state.picks || !state.picks.lines.length) { toast(() => t("no_picks"), "error"); return; }
    const code = state.table.code;
    const lines = state.picks.lines;
    const list = el("ul", { class: "rules", id: "picks-list" }, ...lines.map((l) => el("li", {}, `${l.qty} × ${l.name}${l.options.length ? " (" + l.options.join(" / ") + ")" : ""} · ${yuan(l.amount_cents)}`)));
    const ok = await ask(t("confirm_picks_title", { code }), [], list, async () =>
      api("POST", `/api/v1/tables/${encodeURIComponent(code)}/confirm`, { line_ids: lines.map((l) => l.id) }));
    if (!ok) return;
    toast(() => t("picks_confirmed", { n: ok.result.confirmed }));
    await loadTables(); await selectTable(code);
  }

  // --- 扫码支付: the QR on the pre-bill slip; 取消 of a WeChat payment still waiting -------------
  function waiting(text) { $("#dialog-error").textContent = text; $("#dialog-error").className = "waiting"; }
  function cancelWechat(cid, key, wait) {
    waiting(t("wx_cancelling"));
    wait.cancel = api("POST", `/api/v1/orders/${cid}/wechat-cancel`, { idempotency_key: key })
      .catch((e) => ({ status: "error", error: e }));
  }
  async function waitPaid(cid, wait) {
    for (;;) {
      if (wait.cancel) {
        const answer = await wait.cancel;
        if (answer.status === "error") throw answer.error;
        if (answer.status !== "paid") throw { code: "payment_cancelled", message: "" };
      }
      const order = await api("GET", `/api/v1/orders/${cid}`).catch(() => null);
      if (order && order.status !== "open") return order;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  async function qrPay() {
    if (state.busy) return;
    if (!state.order || state.order.status !== "open" || !state.bill) { toast(() => t("no_order"), "error"); return; }
    const tt = tenders();
    const qr = tt.due - tt.cash;  // what stored value and cash leave
    if (qr <= 0) { toast(() => t("qr_nothing"), "error"); return; }
    const list = [];
    if (tt.sv) list.push({ type: "stored_value", amount_cents: tt.sv });
    if (tt.cash) list.push({ type: "cash", amount_cents: tt.cash });
    list.push({ type: "wechat", amount_cents: qr, trade_type: "NATIVE" });
    const summary = el("dl", { class: "confirm" },
      el("dt", {}, t("payable")), el("dd", {}, yuan(tt.payable)),
      tt.sv ? el("dt", {}, t("stored_value")) : null, tt.sv ? el("dd", {}, yuan(tt.sv)) : null,
      tt.cash ? el("dt", {}, t("cash")) : null, tt.cash ? el("dd", {}, yuan(tt.cash)) : null,
      el("dt", {}, t("qr_pay")), el("dd", { id: "confirm-qr" }, yuan(qr)));
    const key = state.payKey = state.payKey || uuid();
    const cid = state.order.client_order_id;
    const wait = {};
    const ok = await ask(t("qr_title"), [], summary, async () => {
      const body = { tenders: list, idempotency_key: key };
      if (state.member) body.member_id = state.member.id;
      if (state.coupons.size) body.coupon_ids = Array.from(state.coupons);
      if (state.points) body.points = state.points;
      const opened = await api("POST", `/api/v1/orders/${cid}/checkout`, body);
      if (opened.status !== "awaiting_payment") return opened;
      waiting(t("qr_waiting", { amount: yuan(opened.amount_cents) }) + (opened.prebill === "error" ? " · " + t("qr_not_printed") : ""));
      return waitPaid(cid, wait);
    }, () => cancelWechat(cid, key, wait));
    state.payKey = null;
    if (!ok) return;
    toast(() => t("qr_paid"));
    $("#sv").value = ""; $("#cash").value = ""; $("#wx-code").value = "";
    if (state.member) await identify({ code: state.member.member_no }, true);
    await loadTables(); await selectTable(state.table.code);
  }

  // --- physical member cards: 发卡 (Alt+I), 挂失 (Alt+Z), 补卡 (Alt+A) -------------------------------
  // While a card dialog is open a swipe on the reader fills its card number instead of
  // identifying a member (state.cardSwipe). Only the server changes cards: offline they refuse.
  const HELD = ["active", "lost"];
  function cardsLine(m) {
    const held = (m.cards || []).filter((c) => HELD.includes(c.status));
    return el("p", { class: "mcards", id: "member-cards" }, `${t("cards")}${t("colon")}`,
      ...(held.length ? held.map((c) => el("span", { class: "card " + c.status, "data-card": c.card_no },
        c.card_no, " ", el("em", {}, t("card_" + c.status)))) : [el("span", { class: "muted" }, t("no_cards"))]),
      el("span", { class: "card-keys" },
        keyButton("card-issue", t("card_issue")), keyButton("card-lost", t("card_lose")),
        keyButton("card-replace", t("card_replace"))));
  }
  function cardMember() {
    if (!state.member) { toast(() => t("no_member"), "error"); return null; }
    if (state.member.source !== "server") { toast(() => errorText({ code: "needs_server" }), "error"); return null; }
    return state.member;
  }
  async function reloadCards(memberId) {
    try {
      const answer = await api("GET", `/api/v1/members/${memberId}/cards`);
      if (state.member && state.member.id === memberId) { state.member.cards = answer.cards; renderMember(); }
    } catch (e) { toast(() => errorText(e), "error"); }
  }
  function cardChoice(cards) {
    // One card is chosen; a swipe of one of them chooses it too.
    return el("div", { class: "card-choice", role: "radiogroup" }, ...cards.map((c, i) => el("label", { class: "radio" },
      el("input", { type: "radio", name: "card_id", value: c.id, "data-card": c.card_no, checked: i === 0 }),
      ` ${c.card_no} · ${t("card_" + c.status)}`)));
  }
  function chosen(box) { const r = box.querySelector("input[name=card_id]:checked"); return r ? parseInt(r.value, 10) : null; }
  function swipeInto(input, chooser) {
    state.cardSwipe = (code, raw) => {
      const match = chooser && [code, raw].map((c) => chooser.querySelector(`input[data-card="${CSS.escape(c || "")}"]`)).find(Boolean);
      if (match) { match.checked = true; return; }
      if (input) { input.value = code; input.focus(); $("#dialog-error").className = "waiting"; $("#dialog-error").textContent = t("card_read", { no: code }); }
    };
  }
  async function withSwipe(pending) {
    try { return await pending; } finally { state.cardSwipe = null; }
  }
  async function issueCard() {
    const m = cardMember();
    if (!m) return;
    const pending = ask(t("card_issue_title", { name: m.name }), [{ name: "card_no", label: t("card_no_swipe") }],
      el("p", { class: "muted" }, t("card_issue_hint")), async (v) => {
        if (!v.card_no) throw { code: "validation_error", message: "请在读卡器上刷新卡 / Swipe the new card on the reader" };
        return api("POST", `/api/v1/members/${m.id}/cards`, { card_no: v.card_no });
      });
    swipeInto($("#dialog-body input[name=card_no]"), null);
    const ok = await withSwipe(pending);
    if (!ok) return;
    toast(() => t("card_issued", { no: ok.result.card_no, name: m.name }));
    await reloadCards(m.id);
  }
  async function reportLost() {
    const m = cardMember();
    if (!m) return;
    const cards = (m.cards || []).filter((c) => c.status === "active");
    if (!cards.length) { toast(() => t("no_active_card"), "error"); return; }
    const chooser = cardChoice(cards);
    const pending = ask(t("card_lose_title", { name: m.name }), [], el("div", {}, chooser,
      el("p", { class: "warn" }, t("card_lose_warning"))), async () =>
      api("POST", `/api/v1/members/${m.id}/cards/${chosen(chooser)}/lost`, {}));
    swipeInto(null, chooser);
    const ok = await withSwipe(pending);
    if (!ok) return;
    toast(() => t("card_lost_done", { no: ok.result.card_no }));
    await reloadCards(m.id);
  }
  async function replaceCard() {
    const m = cardMember();
    if (!m) return;
    // A lost card first; an active one (damaged) can be replaced too.
    const cards = (m.cards || []).filter((c) => c.status === "lost").concat((m.cards || []).filter((c) => c.status === "active"));
    if (!cards.length) { toast(() => t("no_card_to_replace"), "error"); return; }
    const chooser = cardChoice(cards);
    const pending = ask(t("card_replace_title", { name: m.name }), [{ name: "card_no", label: t("card_no_swipe_new") }],
      el("div", {}, el("p", { class: "muted" }, t("card_replace_old")), chooser, el("p", { class: "muted" }, t("card_replace_hint"))),
      async (v) => {
        if (!v.card_no) throw { code: "validation_error", message: "请在读卡器上刷新卡 / Swipe the new card on the reader" };
        return api("POST", `/api/v1/members/${m.id}/cards/${chosen(chooser)}/replace`, { card_no: v.card_no });
      });
    swipeInto($("#dialog-body input[name=card_no]"), chooser);
    const ok = await withSwipe(pending);
    if (!ok) return;
    toast(() => t("card_replaced_done", { no: ok.result.card_no }));
    await reloadCards(m.id);
  }

  // --- dish options (规格): a group at a time; digits pick, Enter confirms, Esc cancels --------
  function lineDetail(l) {
    // A line's options and what they add to its price, then its note.
    const opts = (l.options || []).join(" / ");
    const text = [opts + (l.extra_cents ? ` +${yuan(l.extra_cents)}` : ""), l.note].filter(Boolean).join(" · ");
    return text ? el("small", { class: "opts" }, text) : null;
  }
  function chooseOptions(dish) {
    const groups = dish.options;
    const chosen = groups.map(() => new Set());
    let active = 0;
    const box = el("div", { class: "chooser", id: "chooser" });
    const total = el("p", { class: "opt-total", id: "opt-total" });
    const extra = () => groups.reduce((sum, g, gi) => sum + g.choices.filter((c) => chosen[gi].has(c.id))
      .reduce((a, c) => a + c.price_delta_cents, 0), 0);
    function pick(gi, ci) {
      const g = groups[gi], c = g.choices[ci];
      if (!c) return;
      const set = chosen[gi];
      if (set.has(c.id)) set.delete(c.id);
      else if ((g.max_choices || 1) === 1) { set.clear(); set.add(c.id); }
      else if (set.size < g.max_choices) set.add(c.id);
      else { $("#dialog-error").textContent = t("opt_at_most", { group: g.name, n: g.max_choices }); return; }
      $("#dialog-error").textContent = "";
      // A single choice made: on to the next group.
      active = (g.max_choices || 1) === 1 && set.size && gi < groups.length - 1 ? gi + 1 : gi;
      render();
    }
    function render() {
      box.replaceChildren(...groups.map((g, gi) => el("fieldset", { class: "opt-group" + (gi === active ? " on" : ""), "data-group": g.id },
        el("legend", {}, g.name, " ", el("small", {}, [g.is_required ? t("opt_required") : t("opt_optional"),
          (g.max_choices || 1) > 1 ? t("opt_multi", { n: g.max_choices }) : t("opt_single")].join(" · "))),
        ...g.choices.map((c, ci) => el("button", {
          type: "button", class: "opt" + (chosen[gi].has(c.id) ? " on" : ""), "data-choice": c.id,
          "aria-pressed": chosen[gi].has(c.id) ? "true" : "false", onclick: () => { active = gi; pick(gi, ci); },
        }, gi === active && keysOf("opt-pick")[ci] ? el("kbd", {}, keysOf("opt-pick")[ci]) : null, " ", c.name,
        c.price_delta_cents ? el("small", {}, ` +${yuan(c.price_delta_cents)}`) : null)))));
      total.textContent = t("opt_price", { p: yuan(dish.price_cents + extra()) });
    }
    // The chooser's keys (scope "options" in keys.js): the n-th key of opt-pick picks the n-th choice.
    const optionKeys = {
      "opt-pick": (name) => pick(active, keysOf("opt-pick").indexOf(name)),
      "opt-next": () => { active = (active + 1) % groups.length; render(); },
      "opt-prev": () => { active = (active + groups.length - 1) % groups.length; render(); },
    };
    function onDigit(ev) {
      const name = keyName(ev);
      const k = bound(name, inScope("options"));
      if (k) { ev.preventDefault(); optionKeys[k.action](name); }
    }
    render();
    const dialog = $("#dialog");
    dialog.addEventListener("keydown", onDigit);
    const body = el("div", {}, box, total, el("p", { class: "muted" }, t("opt_keys")));
    return ask(t("opt_title", { name: state.lang === "en" && dish.name_en ? dish.name_en : dish.name }), [], body, async () => {
      const missing = groups.findIndex((g, gi) => g.is_required && !chosen[gi].size);
      if (missing >= 0) { active = missing; render(); throw { code: "option_required", message: t("opt_missing", { group: groups[missing].name }) }; }
      const ids = [], names = [];
      groups.forEach((g, gi) => g.choices.forEach((c) => { if (chosen[gi].has(c.id)) { ids.push(c.id); names.push(c.name); } }));
      return { ids, names, extra: extra() };
    }).then((ok) => { dialog.removeEventListener("keydown", onDigit); return ok ? ok.result : null; });
  }

  // --- the dialog: Enter confirms, Esc cancels; the action runs once while it is open ----------
  function ask(title, fields, extra, action, onAbort) {
    const dialog = $("#dialog");
    $("#dialog-title").textContent = title;
    $("#dialog-error").textContent = "";
    $("#dialog-error").className = "error";
    const inputs = fields.map((f) => el("input", { name: f.name, type: f.type || "text", value: f.value || "", inputmode: f.inputmode || null, maxlength: 200, autocomplete: "off" }));
    $("#dialog-body").replaceChildren(...fields.map((f, i) => el("label", {}, f.label, " ", inputs[i])), ...(extra ? [extra] : []));
    return new Promise((resolve) => {
      let running = false, aborted = false;
      const done = (value) => { dialog.close(); form.removeEventListener("submit", submit); cancel.removeEventListener("click", onCancel); dialog.removeEventListener("cancel", onCancel); resolve(value); };
      const form = $("#dialog-form"), cancel = $("#dialog-cancel");
      const values = () => Object.fromEntries(inputs.map((n) => [n.name, n.value.trim()]));
      async function submit(ev) {
        ev.preventDefault();
        if (running) return;  // never twice
        if (!action) { done(values()); return; }
        running = true; $("#dialog-ok").disabled = true;
        try { done({ values: values(), result: await action(values()) }); }
        catch (e) {
          if (aborted) { done(null); toast(() => e.code === "payment_cancelled" ? e.cancelledText || t("wx_cancelled") : errorText(e), e.code === "payment_cancelled" ? "ok" : "error"); return; }
          $("#dialog-error").className = "error"; $("#dialog-error").textContent = errorText(e);
        }
        finally { running = false; aborted = false; $("#dialog-ok").disabled = false; }
      }
      // Esc while a WeChat payment waits cancels it (onAbort); the action's own answer closes the dialog.
      function onCancel(ev) {
        if (ev) ev.preventDefault();
        if (!running) done(null);
        else if (onAbort && !aborted) { aborted = true; onAbort(); }
      }
      form.addEventListener("submit", submit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      (inputs[0] || $("#dialog-ok")).focus();
      if (inputs[0]) inputs[0].select();
    });
  }

  // --- the store's news from the agent's feed: the table map and the menu follow ---------------
  const TABLE_NEWS = new Set(["order_submitted", "cart_changed", "table_changed", "order_paid", "order_refunded",
                              "bill_pushed"]);
  let newsTimer = null;
  function storeNews(ev) {
    if (ev.kind === "menu_changed") { loadMenu(); return; }
    if (!TABLE_NEWS.has(ev.kind) || newsTimer) return;
    newsTimer = setTimeout(() => { newsTimer = null; loadTables(); }, 300);  // one reload for a burst
  }

  // --- card reader and scanner reads from the agent (long polling after a cursor) --------------
  async function followReads() {
    if (state.readCursor === null) {
      try { state.readCursor = (await api("GET", "/api/events?after=0&wait=0")).last; } catch (e) { state.readCursor = 0; }
    }
    while (state.token) {
      try {
        const answer = await api("GET", `/api/events?after=${state.readCursor}&wait=20`);
        for (const ev of answer.events) {
          if (ev.reader === "server") storeNews(ev);  // the store's news, not a card or a scan
          else handleScan(ev.code, ev.kind, ev);
        }
        state.readCursor = answer.last;
      } catch (e) {
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  // --- a keyboard-wedge scanner: a burst of keys ending in Enter, faster than anyone types -------
  // Of the dialogs only the card dialogs (发卡 / 挂失 / 补卡) and the top-up's payment code take a
  // burst, as they take the serial reader's: it fills the dialog and the cashier's own Enter confirms.
  const wedge = { buffer: "", last: 0, target: null, before: "" };
  function wedgeKey(ev) {
    if (!state.token || ev.target.type === "password" || ($("#dialog").open && !state.cardSwipe && !state.codeScan)) return false;
    const now = performance.now();
    if (ev.key.length === 1 && !ev.ctrlKey && !ev.altKey && !ev.metaKey) {
      if (now - wedge.last > 60) { wedge.buffer = ""; wedge.target = ev.target; wedge.before = ev.target && "value" in ev.target ? ev.target.value : ""; }
      wedge.buffer += ev.key; wedge.last = now;
      return false;
    }
    if (ev.key === "Enter" && wedge.buffer.length >= 8 && now - wedge.last < 60) {
      const code = wedge.buffer;
      wedge.buffer = "";
      if (wedge.target && "value" in wedge.target) wedge.target.value = wedge.before;
      ev.preventDefault(); ev.stopPropagation();
      if ($("#dialog").open && state.cardSwipe) state.cardSwipe(code, code); else handleScan(code, null, null);
      return true;
    }
    if (ev.key !== "Shift") wedge.buffer = "";
    return false;
  }

  // --- keys: one table (keys.js) for dispatching, the buttons' keys, the footer and the help --------
  const KEYS = window.TILL_KEYS.keys;
  function keyName(ev) {
    // Shift counts for keys that are not characters (Shift+Tab); a character is already shifted.
    const shift = ev.shiftKey && ev.key.length > 1 && ev.key !== "Shift" ? "Shift+" : "";
    return (ev.altKey ? "Alt+" : "") + (ev.ctrlKey ? "Ctrl+" : "") + shift + (ev.key.length === 1 ? ev.key.toUpperCase() : ev.key);
  }
  const onDesk = (k) => !k.fields && !k.scope;
  const inField = (id) => (k) => Boolean(k.fields && k.fields.includes(id));
  const inScope = (scope) => (k) => k.scope === scope;
  function bound(name, where) { return KEYS.find((k) => where(k) && k.keys.includes(name)); }
  function keysOf(action) { const k = KEYS.find((x) => x.action === action); return k ? k.keys : []; }
  function areaKey(i) { return keysOf("area").find((k) => k === `Alt+${i + 1}`) || null; }
  const KEY_SIGNS = { ArrowUp: "↑", ArrowDown: "↓", ArrowLeft: "←", ArrowRight: "→", Escape: "Esc", PageUp: "PgUp", PageDown: "PgDn" };
  // An entry's keys in few signs: ["Alt+2…4/6…9"], ["Alt+J/K/N/U/V/Y"], ["1…9"], ["↓/→", "Tab"].
  function keysLabel(keys) {
    const parts = [];
    for (const key of keys) {
      const cut = key.lastIndexOf("+") + 1;
      const prefix = key.slice(0, cut), base = KEY_SIGNS[key.slice(cut)] || key.slice(cut);
      const last = parts[parts.length - 1];
      if (last && last.prefix === prefix && base.length === 1 && last.bases[0].length === 1) last.bases.push(base);
      else parts.push({ prefix, bases: [base] });
    }
    return parts.map(({ prefix, bases }) => {
      const runs = [];
      for (let i = 0; i < bases.length;) {
        let j = i;
        while (j + 1 < bases.length && bases[j + 1].charCodeAt(0) === bases[j].charCodeAt(0) + 1) j += 1;
        runs.push(j - i >= 2 ? `${bases[i]}…${bases[j]}` : bases.slice(i, j + 1).join("/"));
        i = j + 1;
      }
      return prefix + runs.join("/");
    });
  }
  function said(x, part) {  // an entry's words in the till's language ("zh", "where_zh" …)
    const key = part ? `${part}_${state.lang}` : state.lang;
    return x[key] || x[part ? `${part}_zh` : "zh"] || "";
  }
  function keyButton(action, label) {
    return el("button", { type: "button", class: "small", "data-action": action, onclick: () => actions[action]() },
      el("kbd", {}, keysLabel(keysOf(action)).join(" ")), " ", label);
  }
  function showKeys() {
    $$("button[data-action]").forEach((b) => {
      const keys = keysOf(b.dataset.action);
      if (keys.length) b.prepend(el("kbd", {}, keysLabel(keys).join(" ")), " ");
    });
    $$("[data-keys-of]").forEach((n) => { n.textContent = keysLabel(keysOf(n.dataset.keysOf)).join(" "); });
  }
  function renderHints() {
    // The footer's short line: the entries with a hint, in the table's order, then the F12 button.
    $("#hints").textContent = KEYS.filter((k) => said(k, "hint"))
      .map((k) => `${keysLabel(k.keys).join(" ")} ${said(k, "hint")}`).join(" · ") + " ·";
  }

  // 快捷键一览: every entry of the table, by group; F12 or Esc closes it (the page's keys wait meanwhile).
  let helpFrom = null;
  function openHelp() {
    $("#keys-help-groups").replaceChildren(...window.TILL_KEYS.groups.map((g) => el("section", { class: "kgroup", "data-group": g.id },
      el("h3", {}, said(g)),
      el("table", {}, ...KEYS.filter((k) => k.group === g.id).map((k) => el("tr", { "data-help": k.action },
        el("th", {}, ...keysLabel(k.keys).map((label) => el("kbd", {}, label))),
        el("td", {}, said(k), said(k, "where") ? el("small", { class: "where" }, said(k, "where")) : null)))))));
    helpFrom = document.activeElement;
    $("#keys-help").showModal();
  }
  function closeHelp() { $("#keys-help").close(); helpClosed(); }
  function helpClosed() {
    // Also on the dialog's own Esc, whose close event comes a moment later: the focus goes back
    // where it was, unless the cashier has moved it on meanwhile.
    const now = document.activeElement;
    if (helpFrom && helpFrom.isConnected && (!now || now === document.body || $("#keys-help").contains(now))) helpFrom.focus();
    helpFrom = null;
  }

  const actions = {
    "focus-table": () => { $("#table-code").focus(); $("#table-code").select(); },
    "focus-search": () => { $("#search").focus(); $("#search").select(); },
    "focus-member": () => { $("#member-query").focus(); $("#member-query").select(); },
    pay: () => { if (!state.bill) { toast(() => t("no_order"), "error"); return; } $("#cash").focus(); $("#cash").select(); },
    settle: () => pay(),
    send: () => send(),
    refund: () => refund(),
    reprint: () => reprint(),
    shift: () => closeShift(),
    topup: () => topUp(),
    join: () => join(),
    "void-line": () => voidLine(),
    "push-bill": () => pushBill(),
    rush: () => rushOrder(),
    resync: () => resync(),
    lang: () => { state.lang = state.lang === "zh" ? "en" : "zh"; localStorage.setItem("till.lang", state.lang); applyLang(); },
    logout: () => logout(),
    "clear-table": () => clearTable(),
    "move-table": () => moveTable("move"),
    "merge-table": () => moveTable("merge"),
    "confirm-picks": () => confirmPicks(),
    "qty-down": () => changeQty(-1),
    "qty-up": () => changeQty(1),
    "cash-50": () => quickCash(5000),
    "cash-100": () => quickCash(10000),
    "cash-round": () => quickCash("round"),
    "sv-all": () => svAll(),
    "qr-pay": () => qrPay(),
    "card-issue": () => issueCard(),
    "card-lost": () => reportLost(),
    "card-replace": () => replaceCard(),
    // Keys without a button of their own.
    area: (name) => {
      const area = state.areas[parseInt(name.slice(-1), 10) - 1];
      if (area !== undefined) { state.area = area; renderTables(); }
    },
    "area-step": (name) => {
      const n = state.areas.length;
      if (n < 2) return;
      const step = name === "Alt+PageUp" ? n - 1 : 1;
      state.area = state.areas[(state.areas.indexOf(state.area) + step) % n];
      renderTables();
    },
    coupon: (name) => {
      const c = state.member && state.member.coupons[keysOf("coupon").indexOf(name)];
      if (c) toggleCoupon(c.id, !state.coupons.has(c.id));
    },
    back: () => { document.activeElement.blur(); $("#table-code").focus(); },
    help: () => { if ($("#keys-help").open) closeHelp(); else openHelp(); },
    // Keys of one field (the field is the second argument).
    "open-table": (name, field) => { openTable(field.value); field.value = ""; },
    pick: (name) => {
      state.pick = name === "ArrowDown" ? Math.min(state.pick + 1, state.results.length - 1) : Math.max(state.pick - 1, 0);
      renderResults();
    },
    "add-dish": () => addPicked(),
    "set-note": (name, field) => {
      const line = state.draft[state.draftLine];
      if (line) { line.note = field.value.trim(); field.value = ""; renderOrder(); }
      $("#search").focus();
    },
    "find-member": (name, field) => {
      const v = field.value.trim();
      field.value = "";
      if (/^1\d{10}$/.test(v)) identify({ phone: v }); else if (v) handleScan(v, null, null);
    },
  };
  function onKey(ev) {
    if (wedgeKey(ev)) return;
    const name = keyName(ev);
    const k = bound(name, onDesk);
    if ($("#keys-help").open) {  // the help's own keys: F12 closes it, and Esc (the dialog's cancel)
      if (k && k.action === "help") { ev.preventDefault(); closeHelp(); }
      return;
    }
    if ($("#dialog").open) return;  // the dialog's own keys
    if (!state.token || !k) return;
    // A key whose action has a button works while that button is shown (Alt+S: managers only).
    const buttons = $$("button[data-action]").filter((b) => b.dataset.action === k.action);
    if (buttons.length && buttons.every((b) => b.closest("[hidden]"))) return;
    ev.preventDefault();
    actions[k.action](name);
  }
  function onFieldKey(ev) {
    const name = keyName(ev);
    const k = bound(name, inField(ev.target.id));
    if (!k) return;
    ev.preventDefault();
    actions[k.action](name, ev.target);
  }

  function renderAll() {
    if (!state.token) return;
    renderTables(); renderResults(); renderOrder(); renderMember(); renderBill();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#login-form").addEventListener("submit", login);
    document.addEventListener("keydown", onKey, true);
    $$("input").forEach((n) => n.addEventListener("keydown", onFieldKey));
    $("#search").addEventListener("input", () => { state.pick = 0; search(); });
    ["#cash", "#sv", "#wx-code"].forEach((s) => $(s).addEventListener("input", () => { state.payKey = null; renderBill(); }));
    $$("[data-action]").forEach((b) => b.addEventListener("click", () => actions[b.dataset.action]()));
    $("#keys-help-close").addEventListener("click", closeHelp);
    $("#keys-help").addEventListener("close", helpClosed);
    showKeys();
    applyLang();
    pollStatus(); setInterval(pollStatus, 2000);
    setInterval(() => { if (state.token) loadTables(); }, 5000);
    if (state.token && state.staff) enter(); else $("#username").focus();
  });
})();
