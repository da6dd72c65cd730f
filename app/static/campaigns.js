// Segments and campaigns: the live count of a filter form, the preview count of the chosen
// segment, and a confirmation before destructive forms (data-confirm). No inline scripts (CSP).
(function () {
  "use strict";
  var form = document.getElementById("segment-form");
  if (form) {
    var target = document.getElementById("live-count");
    var timer = null;
    var refresh = function () {
      var body = new FormData(form);
      fetch(form.dataset.countUrl, { method: "POST", body: body, credentials: "same-origin" })
        .then(function (response) { return response.text().then(function (text) { return [response.ok, text]; }); })
        .then(function (result) {
          target.textContent = result[1];
          target.classList.toggle("bad", !result[0]);
        });
    };
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 250); });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(refresh, 50); });
  }
  var segment = document.getElementById("segment_id");
  var preview = document.getElementById("preview-count");
  if (segment && preview) {
    segment.addEventListener("change", function () {
      var option = segment.options[segment.selectedIndex];
      preview.textContent = option && option.dataset.count ? option.dataset.count : "0";
    });
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (element) {
    element.addEventListener("submit", function (event) {
      if (!window.confirm(element.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
