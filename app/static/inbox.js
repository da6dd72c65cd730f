// The customer-service inbox keeps itself current: every second it asks whether the store's
// inbox changed (a stamp), and when it did it fetches the page again and swaps in the list of
// conversations, the thread and the unread count — the reply being typed is left alone.
(function () {
  "use strict";
  var root = document.getElementById("inbox");
  if (!root) { return; }
  var stampUrl = root.getAttribute("data-stamp-url");
  var stamp = root.getAttribute("data-stamp");
  var busy = false;

  function swap(doc, id) {
    var fresh = doc.getElementById(id);
    var here = document.getElementById(id);
    if (fresh && here) { here.innerHTML = fresh.innerHTML; here.className = fresh.className; }
  }

  function scrollThread() {
    var thread = document.getElementById("thread-messages");
    if (thread) { thread.scrollTop = thread.scrollHeight; }
  }

  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["conversation-list", "thread-messages", "unread-total"].forEach(function (id) { swap(doc, id); });
        var freshRoot = doc.getElementById("inbox");
        if (freshRoot) { stamp = freshRoot.getAttribute("data-stamp"); }
        scrollThread();
      });
  }

  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(stampUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { return data && data.stamp !== stamp ? refresh() : null; })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  var canned = document.getElementById("canned_id");
  var text = document.getElementById("reply-text");
  if (canned && text) {
    canned.addEventListener("change", function () {
      var option = canned.options[canned.selectedIndex];
      if (option && option.getAttribute("data-text")) { text.value = option.getAttribute("data-text"); }
    });
  }
  scrollThread();
  window.setInterval(poll, 1000);
}());
