/* Under every text box with a limit, how much of it is used ("120 / 4000"), red once over nine tenths, so a
   long note is shortened before it is sent, not refused after. Counted as the browser counts maxlength. */
(function () {
  'use strict';
  var n = 0;
  document.querySelectorAll('textarea[maxlength]').forEach(function (box) {
    var max = parseInt(box.getAttribute('maxlength'), 10);
    var out = document.createElement('small');
    out.className = 'counter';
    out.id = 'counter-' + (n += 1);
    box.setAttribute('aria-describedby', out.id);
    box.insertAdjacentElement('afterend', out);
    function show() {
      var used = box.value.length;
      out.textContent = used + ' / ' + max;
      out.classList.toggle('near', used > max * 0.9);
    }
    box.addEventListener('input', show);
    show();
  });
})();
