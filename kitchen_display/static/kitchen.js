// The kitchen display: open tickets, then the live stream; bump and recall.
(function () {
  const root = document.getElementById("kds");
  const store = root.dataset.store, station = root.dataset.station, t = root.dataset;
  const list = document.getElementById("kds-tickets"), empty = document.getElementById("kds-empty");
  const status = document.getElementById("kds-status");
  const tickets = new Map();  // ticket_id -> ticket (tablerules.documents.KitchenTicket as JSON)
  let lastBumped = [];

  function esc(text) { const d = document.createElement("div"); d.textContent = text == null ? "" : String(text); return d.innerHTML; }
  function age(ticket) { return Math.max(0, (Date.now() - Date.parse(ticket.created_at)) / 60000); }

  function render() {
    const shown = [...tickets.values()].filter(tk => !station || tk.station === station)
      .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    list.innerHTML = shown.map(tk => {
      const minutes = age(tk), cls = minutes > 20 ? "late" : minutes > 10 ? "warn" : "";
      const items = tk.items.map(i => `<li class="${i.status === "cancelled" ? "cancelled" : ""}">` +
        `${esc(i.qty)} × ${esc(i.name)}${i.status === "cancelled" ? " (" + esc(t.textCancelled) + ")" : ""}` +
        (i.options && i.options.length ? `<small>${esc(i.options.join(" · "))}</small>` : "") +
        (i.note ? `<small>${esc(i.note)}</small>` : "") + `</li>`).join("");
      return `<article class="ticket ${cls}" data-id="${tk.ticket_id}">` +
        `<h2><span>${tk.table ? esc(t.textTable) + " " + esc(tk.table) : esc(t.textTakeaway)}</span><span>${Math.floor(minutes)}′</span></h2>` +
        `<div class="meta">${esc(tk.station)} · #${tk.ticket_id}` +
        (tk.mark === "add" ? ` <span class="mark">${esc(t.textAddition)}</span>` : "") + `</div>` +
        `<ul>${items}</ul><button type="button" data-bump="${tk.ticket_id}">${esc(t.textBump)}</button></article>`;
    }).join("");
    empty.hidden = shown.length > 0;
  }

  function apply(kind, payload) {
    if (kind === "ticket_new" || kind === "ticket_recalled" || kind === "ticket_changed") tickets.set(payload.ticket_id, payload);
    else if (kind === "ticket_bumped") tickets.delete(payload.ticket_id);
    else if (kind === "ticket_cancelled") {
      const tk = tickets.get(payload.ticket_id);
      if (tk) payload.items.forEach(c => tk.items.forEach(i => { if (i.line_id === c.line_id) i.status = "cancelled"; }));
    }
    render();
  }

  async function post(url) {
    const response = await fetch(url, { method: "POST", headers: { "X-CSRFToken": t.csrf } });
    return response.json();
  }

  list.addEventListener("click", async (event) => {
    const id = event.target.dataset.bump;
    if (!id) return;
    event.target.disabled = true;
    const body = await post(`/kitchen/tickets/${id}/bump`);
    if (body.ticket) { lastBumped.push(body.ticket.ticket_id); apply("ticket_bumped", body.ticket); }
  });
  document.getElementById("kds-recall").addEventListener("click", async () => {
    const id = lastBumped.pop();
    if (id) { const body = await post(`/kitchen/tickets/${id}/recall`); if (body.ticket) apply("ticket_recalled", body.ticket); }
  });

  fetch(`/kitchen/stores/${store}/tickets.json`).then(r => r.json()).then(body => {
    body.tickets.forEach(tk => tickets.set(tk.ticket_id, tk));
    render();
    const source = new EventSource(`/kitchen/stores/${store}/stream?after=${body.head_seq}`);
    ["ticket_new", "ticket_changed", "ticket_cancelled", "ticket_bumped", "ticket_recalled"].forEach(kind =>
      source.addEventListener(kind, (e) => { status.textContent = ""; apply(kind, JSON.parse(e.data).payload); }));
    source.onerror = () => { status.textContent = t.textOffline; };
    source.onopen = () => { status.textContent = ""; };
  });
  setInterval(render, 30000);  // ages and colours move on
})();
