/* The done page comes moments before the worker issues the order: until the order's mail is sent, fetch the
   page again now and then and show the deadlines and the mail's progress as they arrive. */
(function () {
  'use strict';
  var tries = 0;
  function poll() {
    var pending = document.querySelector('#done[data-pending]');
    if (!pending || tries >= 40) { return; }
    tries += 1;
    setTimeout(function () {
      fetch(window.location.href, {credentials: 'same-origin'}).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('main');
        if (fresh) { document.querySelector('main').replaceWith(fresh); }
      }).catch(function () { return null; }).then(poll);
    }, 3000);
  }
  poll();
})();
