/* The bill page (app/templates/diner/bill.html): the table's live stream reloads the page when
   the table's order or its split changes (a share paid on another phone), and the shares of a
   split bill are paid with WeChat Pay (JSAPI) from here. */
(function () {
  'use strict';
  var script = document.currentScript || document.querySelector('script[data-share-url]');
  if (!script) { return; }
  var data = script.dataset;
  var status = document.getElementById('share-status');
  function show(text) { if (status) { status.textContent = text; } }

  var busy = false;
  var stream = null;
  if (data.live === '1' && window.EventSource) {
    stream = new EventSource(data.stream);
    stream.addEventListener('order', function () { if (!busy) { window.location.reload(); } });
  }
  function quiet() {  // a form on its way (a payment) or the page going: the stream has nothing more to do
    busy = true;
    if (stream) { stream.close(); }
  }
  document.addEventListener('submit', quiet);
  window.addEventListener('pagehide', quiet);

  function bridge(ready) {
    if (typeof WeixinJSBridge !== 'undefined') { ready(); }
    else { document.addEventListener('WeixinJSBridgeReady', ready, false); }
  }
  function poll(url, tries) {
    fetch(url, {headers: {'Accept': 'application/json'}, credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status === 'paid' || body.order_status === 'paid') { busy = false; window.location.reload(); return; }
        if (body.status !== 'pending') { busy = false; show(data.failed); return; }
        if (tries > 0) { setTimeout(function () { poll(url, tries - 1); }, 1000); }
      })
      .catch(function () { if (tries > 0) { setTimeout(function () { poll(url, tries - 1); }, 1000); } });
  }
  Array.prototype.forEach.call(document.querySelectorAll('.share-wechat'), function (button) {
    button.addEventListener('click', function () {
      busy = true;
      button.disabled = true;
      show(data.opening);
      var ids = button.dataset.shares.split(',').map(Number);
      fetch(data.shareUrl, {
        method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
        body: JSON.stringify({order_id: Number(data.order), share_ids: ids})
      })
        .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
        .then(function (answer) {
          if (!answer.ok) { busy = false; show(answer.body.error.message); button.disabled = false; return; }
          var payment = answer.body;
          bridge(function () {
            WeixinJSBridge.invoke('getBrandWCPayRequest', payment.jsapi, function (result) {
              if (result.err_msg === 'get_brand_wcpay_request:ok') {
                show(data.confirming);
                poll(data.statusUrl + payment.intent_id, 30);
              } else {
                busy = false;
                show(result.err_msg === 'get_brand_wcpay_request:cancel' ? data.cancelled : data.failed);
                button.disabled = false;
              }
            });
          });
        })
        .catch(function () { busy = false; show(data.failed); button.disabled = false; });
    });
  });
})();
