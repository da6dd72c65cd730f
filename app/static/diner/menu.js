/* The diner's menu page: the table's shared cart, live over Server-Sent Events.
 * Plain browser JavaScript, no framework. The page's data (dishes, texts) is the JSON block
 * #menu-data; the server's answers are always the whole table view (cart + order), so every
 * change, ours or another phone's, redraws from the same shape. */
(function () {
  'use strict';
  var root = document.getElementById('menu-app');
  if (!root) { return; }
  var data = JSON.parse(document.getElementById('menu-data').textContent);
  var T = data.text;
  var base = root.dataset.base;
  var csrf = root.dataset.csrf;
  var me = root.dataset.me;
  var dishes = {};
  data.dishes.forEach(function (d) { dishes[d.id] = d; });
  var view = null;           // the last table view the server sent
  var seenOrder = null;      // the order this phone showed (kept after the table pays)
  var knownLines = null;     // cart line ids seen, to tell others' new picks
  var $ = function (id) { return document.getElementById(id); };

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }
  function yuan(cents) {
    var sign = cents < 0 ? '-' : '';
    cents = Math.abs(cents);
    return sign + '\uffe5' + Math.floor(cents / 100) + '.' + String(cents % 100).padStart(2, '0');
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === 'text') { node.textContent = attrs[key]; } else if (key === 'cls') { node.className = attrs[key]; }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }
  function colour(name) {
    var hash = 0;
    for (var i = 0; i < name.length; i++) { hash = (hash * 31 + name.charCodeAt(i)) % 360; }
    return 'hsl(' + hash + ', 65%, 48%)';
  }
  function who(name) {
    var node = el('span', {cls: 'who', text: fmt(T.by, {name: name === me ? name + ' (' + T.you + ')' : name})});
    node.style.setProperty('--who', colour(name));
    return node;
  }

  var toastTimer = null;
  function toast(text) {
    var node = $('toast');
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { node.hidden = true; }, 2600);
  }

  // --- talking to the server ------------------------------------------------------------------
  function call(method, path, body) {
    var options = {method: method, credentials: 'same-origin', cache: 'no-store',
                   headers: {'Accept': 'application/json', 'X-CSRFToken': csrf}};
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    var url = base + path + (seenOrder ? (path.indexOf('?') < 0 ? '?' : '&') + 'order=' + seenOrder : '');
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        return {ok: response.ok, status: response.status, body: answer};
      });
    });
  }
  function refresh() {
    return call('GET', '/cart.json').then(function (answer) { if (answer.ok) { show(answer.body); } });
  }
  function failed(answer) {
    var error = answer.body && answer.body.error;
    if (answer.status === 409 && answer.body.cart) { show(answer.body.cart); toast(T.stale); return; }
    toast(error && error.message ? error.message : T.failed);
    if (answer.status === 409 || answer.status === 404) { refresh(); }
  }

  // --- drawing the table view -----------------------------------------------------------------
  function show(next) {
    var before = knownLines;
    view = next;
    if (next.order_id) { seenOrder = next.order_id; }
    knownLines = {};
    next.lines.forEach(function (line) { knownLines[line.id] = true; });
    if (before) {
      next.lines.forEach(function (line) {
        if (!before[line.id] && line.added_by !== me) {
          toast(fmt(T.added_by, {name: line.added_by, dish: dishName(line)}));
        }
      });
    }
    drawBar();
    drawCart();
    drawOrder();
    drawBadges();
  }
  function dishName(line) {
    var dish = dishes[line.dish_id];
    return dish ? dish.name : (root.dataset.lang === 'en' && line.name_en ? line.name_en : line.name);
  }
  function count() {
    return view.lines.reduce(function (sum, line) { return sum + line.qty; }, 0);
  }
  function drawBar() {
    $('cart-count').textContent = count();
    $('cart-total').textContent = yuan(view.total_cents);
    $('sheet-total').textContent = yuan(view.total_cents);
    var names = [];
    view.lines.forEach(function (line) { if (names.indexOf(line.added_by) < 0) { names.push(line.added_by); } });
    $('cart-who').textContent = names.length ? names.join('\u3001') : T.empty;
    $('go-cart').disabled = view.lines.length === 0;
    $('send').disabled = view.lines.length === 0;
  }
  function drawCart() {
    var list = $('cart-lines');
    list.textContent = '';
    if (!view.lines.length) { list.appendChild(el('li', {cls: 'empty', text: T.empty})); return; }
    view.lines.forEach(function (line) {
      var minus = el('button', {type: 'button', cls: 'minus', 'aria-label': '-', text: '\u2212'});
      var plus = el('button', {type: 'button', cls: 'plus', 'aria-label': '+', text: '+'});
      minus.addEventListener('click', function () { change(line, line.qty - 1); });
      plus.addEventListener('click', function () { change(line, line.qty + 1); });
      var opts = (line.options || []).join(' / ');
      list.appendChild(el('li', {'data-line': line.id}, [
        el('div', {cls: 'what'}, [el('b', {text: dishName(line)}), opts ? el('span', {cls: 'opts', text: opts}) : null,
                                  opts ? document.createTextNode(' ') : null, who(line.added_by)]),
        el('span', {cls: 'amount', text: yuan(line.amount_cents)}),
        el('div', {cls: 'qty'}, [minus, el('span', {cls: 'n', text: String(line.qty)}), plus])
      ]));
    });
  }
  function drawOrder() {
    var box = $('ordered');
    var order = view.order;
    // 催菜 once something was sent to the kitchen and is not served yet.
    $('rush').hidden = !(order && order.status !== 'paid' && order.lines.some(function (line) {
      return line.state === 'ordered' || line.state === 'cooking';
    }));
    if (!order || !order.lines.length) { box.hidden = true; return; }
    box.hidden = false;
    var list = $('ordered-lines');
    list.textContent = '';
    order.lines.forEach(function (line) {
      var name = root.dataset.lang === 'en' && line.name_en ? line.name_en : line.name;
      list.appendChild(el('li', {'data-state': line.state}, [
        el('div', {}, [el('span', {text: name + ' \u00d7' + line.qty + ' '}), who(line.added_by)]),
        el('span', {cls: 'state ' + line.state, text: T.states[line.state] || line.state})
      ]));
    });
    $('ordered-note').textContent = order.status === 'paid' ? T.paid : yuan(order.subtotal_cents);
    $('bill-link').href = base + '/bill?order=' + order.id;
    box.classList.toggle('paid', order.status === 'paid');
  }
  function drawBadges() {
    var qty = {};
    view.lines.forEach(function (line) { qty[line.dish_id] = (qty[line.dish_id] || 0) + line.qty; });
    document.querySelectorAll('.dish').forEach(function (card) {
      var badge = card.querySelector('.in-cart');
      var n = qty[card.dataset.dish] || 0;
      badge.hidden = n === 0;
      badge.textContent = n ? fmt(T.in_cart, {n: n}) : '';
    });
  }

  // --- changing the cart --------------------------------------------------------------------------
  var busy = false;
  function guarded(work) {
    if (busy) { return; }
    busy = true;
    work().catch(function () { toast(T.failed); }).then(function () { busy = false; });
  }
  function add(dishId, optionIds) {
    guarded(function () {
      return call('POST', '/cart/lines', {dish_id: Number(dishId), qty: 1, option_ids: optionIds || []})
        .then(function (answer) { if (answer.ok) { show(answer.body); } else { failed(answer); } });
    });
  }
  function change(line, qty) {
    guarded(function () {
      return call('PATCH', '/cart/lines/' + line.id, {qty: Math.max(0, qty), version: line.version})
        .then(function (answer) { if (answer.ok) { show(answer.body); } else { failed(answer); } });
    });
  }
  function send() {
    guarded(function () {
      $('send').disabled = true;
      return call('POST', '/cart/send').then(function (answer) {
        if (!answer.ok) { failed(answer); drawBar(); return; }
        show(answer.body);
        closeSheets();
        toast(answer.body.sent && answer.body.sent.needs_confirmation ? T.sent_waiter : T.sent);
      });
    });
  }

  // --- sheets: the cart, a dish's specs ------------------------------------------------------------
  function openSheet(id) { $('sheet-back').hidden = false; $(id).hidden = false; }
  function closeSheets() {
    $('sheet-back').hidden = true;
    $('cart-sheet').hidden = true;
    $('spec-sheet').hidden = true;
  }
  var specDish = null;
  function openSpecs(dish) {
    specDish = dish;
    $('spec-title').textContent = dish.name;
    var box = $('spec-groups');
    box.textContent = '';
    dish.groups.forEach(function (group) {
      var single = group.max === 1;
      var legend = el('legend', {text: group.name + ' '}, [
        group.required ? null : el('small', {text: fmt(T.max, {n: group.max})})]);
      var fields = el('fieldset', {'data-group': group.id}, [legend]);
      group.choices.forEach(function (choice, index) {
        var input = el('input', {type: single ? 'radio' : 'checkbox', name: 'g' + group.id, value: choice.id});
        if (single && group.required && index === 0) { input.checked = true; }
        input.addEventListener('change', specPrice);
        var label = choice.name + (choice.delta ? ' +' + yuan(choice.delta) : '');
        fields.appendChild(el('label', {}, [input, el('span', {text: label})]));
      });
      box.appendChild(fields);
    });
    specPrice();
    openSheet('spec-sheet');
  }
  function chosen() {
    var ids = [];
    $('spec-groups').querySelectorAll('input:checked').forEach(function (input) { ids.push(Number(input.value)); });
    return ids;
  }
  function specPrice() {
    var ids = chosen();
    var extra = 0;
    specDish.groups.forEach(function (group) {
      group.choices.forEach(function (choice) { if (ids.indexOf(choice.id) >= 0) { extra += choice.delta; } });
    });
    var text = yuan(specDish.price + extra);
    if (specDish.member_price !== null) { text += ' \u00b7 ' + yuan(specDish.member_price + extra); }
    $('spec-price').textContent = text;
  }
  function addWithSpecs() {
    var ids = chosen();
    for (var i = 0; i < specDish.groups.length; i++) {
      var group = specDish.groups[i];
      var picked = group.choices.filter(function (c) { return ids.indexOf(c.id) >= 0; }).length;
      if (group.required && picked === 0) { toast(fmt(T.required, {group: group.name})); return; }
      if (picked > group.max) { toast(fmt(T.max, {n: group.max})); return; }
    }
    closeSheets();
    add(specDish.id, ids);
  }

  // --- search and the sticky category bar ------------------------------------------------------
  function search() {
    var words = $('search').value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    var any = false;
    document.querySelectorAll('.dishes').forEach(function (section) {
      var shown = 0;
      section.querySelectorAll('.dish').forEach(function (card) {
        var keys = card.dataset.search;
        var match = words.every(function (word) { return keys.indexOf(word) >= 0; });
        card.hidden = !match;
        if (match) { shown++; }
      });
      section.hidden = shown === 0;
      if (shown) { any = true; }
    });
    $('no-results').hidden = any;
  }
  function followCategories() {
    var links = document.querySelectorAll('.categories a');
    if (!('IntersectionObserver' in window)) { return; }
    var current = null;
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) { current = entry.target.dataset.cat; }
      });
      links.forEach(function (link) {
        var active = link.dataset.cat === current;
        link.classList.toggle('active', active);
        if (active && link.scrollIntoView) { link.scrollIntoView({block: 'nearest', inline: 'center'}); }
      });
    }, {rootMargin: '-180px 0px -60% 0px'});
    document.querySelectorAll('.dishes').forEach(function (section) { observer.observe(section); });
  }

  // --- the live stream ---------------------------------------------------------------------------
  function listen() {
    if (!('EventSource' in window)) { return; }
    var source = new EventSource(base + '/stream?after=' + encodeURIComponent(root.dataset.seq));
    var pending = null;
    function soon() {  // a burst of events is one read of the table view
      if (pending) { return; }
      pending = setTimeout(function () { pending = null; refresh(); }, 30);
    }
    function news(event) {  // the table's view comes with the news; read it only when it does not
      var next = null;
      try { next = JSON.parse(event.data); } catch (e) { next = null; }
      if (!next || !next.lines) { soon(); return; }
      if (view && view.seq >= next.seq) { return; }  // this phone already shows this view or a newer one
      if (!next.order_id && seenOrder && next.order === null) { soon(); return; }  // keep the paid order shown
      show(next);
    }
    source.addEventListener('cart', news);
    source.addEventListener('order', news);
    source.addEventListener('waiter', function () { toast(T.called); });
    source.addEventListener('open', function () { $('toast').hidden = true; });
    source.addEventListener('error', function () { if (source.readyState !== 2) { toast(T.offline); } });
  }

  // --- wiring --------------------------------------------------------------------------------------
  document.querySelector('main').addEventListener('click', function (event) {
    var button = event.target.closest('[data-action]');
    if (button) {
      var dish = dishes[button.closest('.dish').dataset.dish];
      if (!dish) { return; }
      if (button.dataset.action === 'specs') { openSpecs(dish); } else { add(dish.id, []); }
      return;
    }
    if (event.target.closest('[data-close]') || event.target.id === 'sheet-back') { closeSheets(); }
  });
  $('go-cart').addEventListener('click', function () { openSheet('cart-sheet'); });
  $('open-cart').addEventListener('click', function () { openSheet('cart-sheet'); });
  $('send').addEventListener('click', send);
  $('spec-add').addEventListener('click', addWithSpecs);
  $('search').addEventListener('input', search);
  $('call-waiter').addEventListener('click', function () {
    guarded(function () {
      return call('POST', '/call-waiter', {}).then(function (answer) {
        if (answer.ok) { toast(T.called); } else { failed(answer); }
      });
    });
  });
  $('rush').addEventListener('click', function () {
    guarded(function () {
      return call('POST', '/rush', {}).then(function (answer) {
        if (answer.ok) { toast(T.rushed); } else { failed(answer); }
      });
    });
  });
  followCategories();
  // The first call says the diner is here (a pushed bill then reaches their WeChat) and brings
  // the table's view; the page itself only reads.
  call('POST', '/here', {}).then(function (answer) {
    if (answer.ok) { show(answer.body); } else { failed(answer); }
  }).then(listen);
}());
