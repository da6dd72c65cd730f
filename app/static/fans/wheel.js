/* The lucky wheel: asks the server for a spin (the server decides), then turns the wheel to
   the segment it names and shows what was won. No inline script: the page's CSP forbids it. */
(function () {
  'use strict';
  var page = document.getElementById('wheel-page');
  var button = document.getElementById('spin');
  if (!page || !button) { return; }
  var face = document.getElementById('wheel-face');
  var texts = document.getElementById('texts').dataset;
  var turned = 0;
  var busy = false;

  function show(id, text) {
    var el = document.getElementById(id);
    el.textContent = text;
    el.hidden = !text;
    return el;
  }

  function finish(answer) {
    var result = document.getElementById('result');
    result.hidden = false;
    result.classList.toggle('win', answer.is_win);
    show('result-title', answer.is_win ? texts.won.replace('__PRIZE__', answer.label) : texts.nothing);
    var note = '';
    var link = document.getElementById('result-link');
    link.hidden = true;
    if (answer.is_win && answer.granted) {
      note = texts.granted;
      link.href = answer.wallet_url; link.textContent = texts.walletLink; link.hidden = false;
    } else if (answer.is_win && answer.needs_join) {
      note = texts.join;
      link.href = answer.claim_url; link.textContent = texts.joinLink; link.hidden = false;
    } else if (answer.problem) {
      note = answer.problem;
    }
    show('result-note', note);
    if (answer.plays_left !== null && answer.plays_left !== undefined) {
      show('left', texts.left.replace('__N__', answer.plays_left));
    }
    page.dataset.drawId = answer.next_draw_id;
    busy = false;
    button.disabled = answer.plays_left === 0;
    button.textContent = texts.again;
    page.dataset.state = answer.is_win ? 'won' : 'lost';
  }

  button.addEventListener('click', function () {
    if (busy) { return; }
    busy = true;
    button.disabled = true;
    show('spin-error', '');
    page.dataset.state = 'spinning';
    fetch(page.dataset.spinUrl, {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': page.dataset.csrf},
      body: JSON.stringify({draw_id: page.dataset.drawId})
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, body: body}; });
    }).then(function (reply) {
      if (!reply.ok) { throw new Error((reply.body.error && reply.body.error.message) || texts.failed); }
      var answer = reply.body;
      var step = 360 / answer.segments;
      var target = 360 - (answer.position * step + step / 2);
      // Five full turns, then stop with the segment's middle under the pointer at the top.
      turned += 5 * 360 + ((target - turned) % 360 + 360) % 360;
      face.style.transform = 'rotate(' + turned + 'deg)';
      var done = false;
      function end() { if (!done) { done = true; finish(answer); } }
      face.addEventListener('transitionend', end, {once: true});
      setTimeout(end, 4500);
    }).catch(function (error) {
      busy = false;
      button.disabled = false;
      page.dataset.state = 'error';
      show('spin-error', error.message || texts.failed);
    });
  });
}());
