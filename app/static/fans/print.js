/* The poster sheet's print button (no inline script: the page's CSP forbids it). */
document.addEventListener('DOMContentLoaded', function () {
  var button = document.getElementById('print-sheet');
  if (button) { button.addEventListener('click', function () { window.print(); }); }
});
