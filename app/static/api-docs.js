// Starts Swagger UI on /api/docs from the data attributes of #api-docs (spec URL, options).
(function () {
  var holder = document.getElementById("api-docs");
  var options = JSON.parse(holder.dataset.config || "{}");
  options.url = holder.dataset.specUrl;
  options.domNode = holder;
  window.ui = SwaggerUIBundle(options);
})();
