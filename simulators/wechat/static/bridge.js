/* WeixinJSBridge as the WeChat simulator plays it, for pages opened in an ordinary browser.
 * Load it from the simulator (<script src="http://127.0.0.1:8100/jsapi/bridge.js">) only when
 * the page is not inside WeChat. getBrandWCPayRequest opens the simulator's payment sheet in
 * an overlay and calls back with err_msg "get_brand_wcpay_request:ok" | ":cancel" | ":fail",
 * as WeChat does. */
(function () {
  if (window.WeixinJSBridge) { return; }
  var script = document.currentScript;
  var base = script ? script.src.replace(/\/jsapi\/bridge\.js.*$/, '') : '';

  function openSheet(params, callback) {
    var query = new URLSearchParams({embed: '1'});
    ['appId', 'timeStamp', 'nonceStr', 'package', 'signType', 'paySign'].forEach(function (k) {
      if (params[k] !== undefined) { query.set(k, params[k]); }
    });
    var overlay = document.createElement('div');
    overlay.style.cssText = 'position:fixed;inset:0;background:rgba(0,0,0,.55);z-index:2147483647;' +
      'display:flex;align-items:flex-end;justify-content:center';
    var frame = document.createElement('iframe');
    frame.src = base + '/pay/sheet?' + query.toString();
    frame.style.cssText = 'width:100%;max-width:420px;height:80%;border:0;border-radius:12px 12px 0 0;background:#ededed';
    overlay.appendChild(frame);
    document.body.appendChild(overlay);
    function onMessage(event) {
      if (!event.data || event.data.wechatSim !== 'pay') { return; }
      window.removeEventListener('message', onMessage);
      overlay.remove();
      callback({err_msg: event.data.err_msg, err_desc: event.data.err_desc});
    }
    window.addEventListener('message', onMessage);
  }

  window.WeixinJSBridge = {
    invoke: function (name, params, callback) {
      callback = callback || function () {};
      if (name === 'getBrandWCPayRequest') { openSheet(params || {}, callback); }
      else { callback({err_msg: name + ':fail'}); }
    },
    on: function () {},
    call: function () {}
  };
  var ready = function () { document.dispatchEvent(new Event('WeixinJSBridgeReady')); };
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', ready); }
  else { setTimeout(ready, 0); }
})();
