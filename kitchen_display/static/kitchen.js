// The kitchen display: open tickets, then the live stream. Bump or recall a dish or a whole
// ticket, the all-day counts, long-wait colours, a sound on a new ticket, the waiter calls; changed
// and cancelled tickets as they happen; a rushed (催) order's tickets on top with a sound of their own.
(function () {
  const root = document.getElementById("kds");
  const store = root.dataset.store, station = root.dataset.station, t = root.dataset;
  const list = document.getElementById("kds-tickets"), empty = document.getElementById("kds-empty");
  const status = document.getElementById("kds-status"), calls = document.getElementById("kds-calls");
  const allDay = document.getElementById("kds-allday");
  const recallButton = document.getElementById("kds-recall"), recallCount = document.getElementById("kds-recall-count");
  const soundButton = document.getElementById("kds-sound");
  const warnInput = document.getElementById("kds-warn"), lateInput = document.getElementById("kds-late");
  const stationNames = new Map(JSON.parse(t.stations || "[]").map(s => [s.code, s.name]));
  const tickets = new Map();  // ticket_id -> ticket (tablerules.documents.KitchenTicket as JSON)
  const changed = new Set();  // line ids whose quantity changed after the ticket was sent
  const waiterCalls = new Map();  // seq of the waiter_called event -> call
  const rushes = new Map();  // order_id -> its last rush {rush_no, rushed_at} (from the server: survives a reload)
  let bumped = [];  // recallable tickets, the last bumped first (from the server: survives a reload)
  const TO_COOK = new Set(["confirmed", "cooking"]);

  // --- settings kept on this screen -------------------------------------------------------------
  const saved = (key, fallback) => { const v = parseInt(localStorage.getItem(key), 10); return v > 0 ? v : fallback; };
  let warnMinutes = saved("kds-warn", parseInt(t.warn, 10)), lateMinutes = saved("kds-late", parseInt(t.late, 10));
  let muted = localStorage.getItem("kds-muted") === "1";
  warnInput.value = warnMinutes; lateInput.value = lateMinutes;

  function esc(text) { const d = document.createElement("div"); d.textContent = text == null ? "" : String(text); return d.innerHTML; }
  function age(ticket) { return Math.max(0, (Date.now() - Date.parse(ticket.created_at)) / 60000); }
  function level(minutes) { return minutes >= lateMinutes ? "late" : minutes >= warnMinutes ? "warn" : ""; }
  function clock(iso) { const d = new Date(iso); return isNaN(d) ? "" : d.toTimeString().slice(0, 5); }
  function stationName(tk) {
    const item = tk.items.find(i => i.station === tk.station && i.station_name);
    return stationNames.get(tk.station) || (item && item.station_name) || tk.station;
  }
  const shownHere = tk => !station || tk.station === station;

  // --- drawing ------------------------------------------------------------------------------------
  function itemHtml(item) {
    const done = item.status === "done", cancelled = item.status === "cancelled";
    const isChanged = !cancelled && changed.has(item.line_id);
    const cls = [done ? "done" : "", cancelled ? "cancelled" : "", isChanged ? "changed" : ""].join(" ").trim();
    const action = cancelled || !item.line_id ? "" : ` data-line="${item.line_id}" data-action="${done ? "recall" : "bump"}"`;
    return `<li class="${cls}"${action}><span class="dish">${esc(item.qty)} × ${esc(item.name)}</span>` +
      (cancelled ? ` <b class="tag void" title="${esc(t.textCancelled)}">${esc(t.textVoid)}</b>` : "") +
      (isChanged ? ` <b class="tag change">${esc(t.textChanged)}</b>` : "") +
      (item.options && item.options.length ? `<small>${esc(item.options.join(" · "))}</small>` : "") +
      (item.note ? `<small>${esc(item.note)}</small>` : "") + `</li>`;
  }

  const allCancelled = tk => tk.items.length > 0 && tk.items.every(i => i.status === "cancelled");
  // A rushed ticket has something still to cook; the last rush of its order says when.
  function rushOf(tk) {
    const rush = rushes.get(tk.order_id);
    return rush && tk.items.some(i => TO_COOK.has(i.status)) ? rush : null;
  }

  function render() {
    const shown = [...tickets.values()].filter(shownHere)
      .sort((a, b) => (rushOf(b) ? 1 : 0) - (rushOf(a) ? 1 : 0) || Date.parse(a.created_at) - Date.parse(b.created_at));
    list.innerHTML = shown.map(tk => {
      const minutes = age(tk), rush = rushOf(tk), gone = allCancelled(tk);
      const cls = ["ticket", level(minutes), rush ? "rushed" : "", gone ? "cancelled" : ""].join(" ").replace(/\s+/g, " ").trim();
      return `<article class="${cls}" data-id="${tk.ticket_id}" data-order="${tk.order_id}">` +
        (rush ? `<div class="rush-banner" role="alert"><b>${esc(t.textRush)}</b> ${esc(t.textRushed)}` +
                (rush.rush_no > 1 ? ` ×${rush.rush_no}` : "") + ` · ${esc(clock(rush.rushed_at))}</div>` : "") +
        `<h2><span>${tk.table ? esc(t.textTable) + " " + esc(tk.table) : esc(t.textTakeaway)}</span><span class="age">${Math.floor(minutes)}′</span></h2>` +
        `<div class="meta"><span class="station">${esc(stationName(tk))}</span> · #${esc(tk.ticket_no)}` +
        (tk.mark === "add" ? ` <span class="mark">${esc(t.textAddition)}</span>` : "") +
        (tk.mark === "change" ? ` <span class="mark change">${esc(t.textChanged)}</span>` : "") +
        (gone ? ` <span class="mark void">${esc(t.textCancelled)}</span>` : "") + `</div>` +
        `<ul title="${esc(t.textItemHint)}">${tk.items.map(itemHtml).join("")}</ul>` +
        `<button type="button" data-bump="${tk.ticket_id}">${esc(t.textBump)}</button></article>`;
    }).join("");
    empty.hidden = shown.length > 0;
    renderAllDay();
    renderRecall();
  }

  function renderAllDay() {  // the same count as tablerules.kitchen.all_day
    const counts = new Map();
    tickets.forEach(tk => {
      if (tk.status !== "open") return;
      tk.items.forEach(i => {
        if (!TO_COOK.has(i.status) || (station && i.station !== station)) return;
        counts.set(i.name, (counts.get(i.name) || 0) + i.qty);
      });
    });
    const rows = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    allDay.innerHTML = rows.map(([name, qty]) => `<li><span>${esc(name)}</span><b>${qty}</b></li>`).join("");
  }

  function renderRecall() {
    const here = bumped.filter(shownHere);
    recallButton.disabled = here.length === 0;
    recallCount.textContent = here.length ? `(${here.length})` : "";
  }

  function renderCalls() {
    calls.innerHTML = [...waiterCalls.values()].sort((a, b) => a.seq - b.seq).map(c =>
      `<div class="call" data-seq="${c.seq}" role="alert"><span><i class="bell" aria-hidden="true"></i><b>${esc(c.table)}</b> ${esc(t.textCall)}` +
      ` · ${esc(clock(c.at))}</span><button type="button" data-ack="${c.seq}">${esc(t.textAck)}</button></div>`).join("");
  }

  // --- the sound of a new ticket (WebAudio: made here, nothing to download) ---------------------
  let audio = null;
  function unlockAudio() {
    if (!audio && window.AudioContext) audio = new AudioContext();
    if (audio && audio.state === "suspended") audio.resume();
  }
  document.addEventListener("pointerdown", unlockAudio);
  document.addEventListener("keydown", unlockAudio);
  function chime() {
    if (muted) return;
    root.dataset.beeps = String(parseInt(root.dataset.beeps, 10) + 1);
    unlockAudio();
    if (!audio) return;
    const now = audio.currentTime;
    [[880, 0], [1320, 0.18]].forEach(([freq, at]) => {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.4, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + at); osc.stop(now + at + 0.32);
    });
  }
  // 催菜: three short high beeps, unlike the two-tone chime of a new ticket.
  function rushSound() {
    if (muted) return;
    root.dataset.rushBeeps = String(parseInt(root.dataset.rushBeeps, 10) + 1);
    unlockAudio();
    if (!audio) return;
    const now = audio.currentTime;
    [0, 0.14, 0.28].forEach(at => {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square"; osc.frequency.value = 1760;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.3, now + at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.1);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + at); osc.stop(now + at + 0.12);
    });
  }
  function showSound() {
    soundButton.textContent = muted ? t.textSoundOff : t.textSoundOn;
    soundButton.setAttribute("aria-pressed", muted ? "false" : "true");
    soundButton.classList.toggle("muted", muted);
  }
  soundButton.addEventListener("click", () => {
    muted = !muted;
    localStorage.setItem("kds-muted", muted ? "1" : "0");
    showSound();
  });
  showSound();

  function saveMinutes() {
    const warn = parseInt(warnInput.value, 10), late = parseInt(lateInput.value, 10);
    if (warn > 0 && late > warn) {
      warnMinutes = warn; lateMinutes = late;
      localStorage.setItem("kds-warn", warn); localStorage.setItem("kds-late", late);
      document.querySelectorAll(".kds-legend-warn").forEach(b => { b.textContent = warn; });
      document.getElementById("kds-legend-late").textContent = late;
      render();
    }
  }
  warnInput.addEventListener("change", saveMinutes);
  lateInput.addEventListener("change", saveMinutes);
  saveMinutes();

  // --- what happens -------------------------------------------------------------------------------
  function forgetBumped(id) { bumped = bumped.filter(b => b.ticket_id !== id); }

  function apply(kind, payload, live) {
    if (kind === "ticket_new") {
      tickets.set(payload.ticket_id, payload);
      if (live && shownHere(payload)) chime();
    } else if (kind === "ticket_changed" || kind === "ticket_cancelled") {
      // The whole ticket as its next version: a dish it names with `was_qty` changed (改) or,
      // cancelled, is struck through (退); with nothing left the ticket stays, struck, until bumped.
      const before = tickets.get(payload.ticket_id);
      if (!before && payload.status !== "open") { render(); return; }
      payload.items.forEach(i => {
        const old = before && before.items.find(o => o.line_id === i.line_id);
        if (i.status !== "cancelled" && ((i.was_qty && i.was_qty !== i.qty) || (old && old.qty !== i.qty))) changed.add(i.line_id);
      });
      tickets.set(payload.ticket_id, payload);
    } else if (kind === "order_rushed") {
      rushes.set(payload.order_id, { rush_no: payload.rush_no, rushed_at: payload.rushed_at });
      if (live && [...tickets.values()].some(tk => tk.order_id === payload.order_id && shownHere(tk) && rushOf(tk))) rushSound();
    } else if (kind === "ticket_bumped" || kind === "ticket_recalled") {
      // A whole ticket, or one dish of it: the ticket's status says whether it is done.
      forgetBumped(payload.ticket_id);
      if (payload.status === "bumped") { tickets.delete(payload.ticket_id); bumped.unshift(payload); }
      else tickets.set(payload.ticket_id, payload);
    }
    render();
  }

  function applyCall(kind, event) {
    if (kind === "waiter_called") waiterCalls.set(event.seq, { seq: event.seq, ...event.payload });
    else if (kind === "waiter_acked") waiterCalls.delete(event.payload.call_seq);
    renderCalls();
  }

  async function post(url) {
    const response = await fetch(url, { method: "POST", headers: { "X-CSRFToken": t.csrf, "Accept": "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) status.textContent = (body.error && body.error.message) || response.statusText;
    return body;
  }

  list.addEventListener("click", async (event) => {
    const bump = event.target.closest("[data-bump]"), line = event.target.closest("[data-line]");
    if (bump) {
      bump.disabled = true;
      const body = await post(`/kitchen/tickets/${bump.dataset.bump}/bump`);
      if (body.ticket) apply("ticket_bumped", body.ticket);
    } else if (line) {
      const body = await post(`/kitchen/items/${line.dataset.line}/${line.dataset.action}`);
      if (body.ticket) apply(line.dataset.action === "bump" ? "ticket_bumped" : "ticket_recalled", body.ticket);
    }
  });
  recallButton.addEventListener("click", async () => {
    const last = bumped.find(shownHere);
    if (!last) return;
    const body = await post(`/kitchen/tickets/${last.ticket_id}/recall`);
    if (body.ticket) apply("ticket_recalled", body.ticket);
    else { forgetBumped(last.ticket_id); renderRecall(); }
  });
  calls.addEventListener("click", async (event) => {
    const ack = event.target.closest("[data-ack]");
    if (!ack) return;
    ack.disabled = true;
    const body = await post(`/kitchen/stores/${store}/waiter-calls/${ack.dataset.ack}/ack`);
    if (body.ack) applyCall("waiter_acked", { payload: body.ack });
  });

  const query = station ? `?station=${encodeURIComponent(station)}` : "";
  fetch(`/kitchen/stores/${store}/tickets.json${query}`).then(r => r.json()).then(body => {
    body.tickets.forEach(tk => tickets.set(tk.ticket_id, tk));
    bumped = body.bumped;
    Object.values(body.rushes || {}).forEach(r => rushes.set(r.order_id, r));
    body.waiter_calls.forEach(c => waiterCalls.set(c.seq, c));
    render(); renderCalls();
    const source = new EventSource(`/kitchen/stores/${store}/stream?after=${body.head_seq}`);
    ["ticket_new", "ticket_changed", "ticket_cancelled", "ticket_bumped", "ticket_recalled", "order_rushed"].forEach(kind =>
      source.addEventListener(kind, (e) => { status.textContent = ""; apply(kind, JSON.parse(e.data).payload, true); }));
    ["waiter_called", "waiter_acked"].forEach(kind =>
      source.addEventListener(kind, (e) => { status.textContent = ""; applyCall(kind, JSON.parse(e.data)); }));
    source.onerror = () => { status.textContent = t.textOffline; };
    source.onopen = () => { status.textContent = ""; root.dataset.live = "1"; };
  });
  setInterval(render, 30000);  // ages and colours move on
})();
