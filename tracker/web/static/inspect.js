/* Walking the checklist: one-tap results, photos shrunk on the phone, review, and a submission that
   is kept on the phone until the server has it. */
(function () {
  'use strict';
  var form = document.getElementById('inspection');
  if (!form) { return; }
  var msg = function (name) { return form.getAttribute('data-msg-' + name); };
  var statusLine = document.getElementById('status');
  var photos = {};   // item code -> [{key, blob}]
  var clientRef = null;
  var scale = window.trackerPhotos.scale;  // photos.js

  function newRef() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return 'r-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12);
  }
  function items() { return Array.prototype.slice.call(form.querySelectorAll('fieldset.item')); }
  function resultOf(fs) {
    var checked = fs.querySelector('.seg:not(.sev) input:checked');
    return checked ? checked.value : null;
  }
  function say(text) { statusLine.textContent = text; }

  items().forEach(function (fs) {
    var code = fs.getAttribute('data-code');
    photos[code] = [];
    var sync = function () {
      var r = resultOf(fs);
      fs.classList.toggle('failed', r === 'fail');
      fs.classList.toggle('passed', r === 'pass');
      fs.querySelector('.fail-details').hidden = r !== 'fail';
    };
    fs.querySelectorAll('.seg:not(.sev) input').forEach(function (input) {
      input.addEventListener('change', sync);
    });
    sync();  // a tap made before this script ran, or a form the browser restored
    var input = fs.querySelector('.photo-input');
    input.addEventListener('change', function () {
      var files = Array.prototype.slice.call(input.files || []);
      input.value = '';
      say(msg('scaling'));
      Promise.all(files.map(function (file) {
        return scale(file).then(function (blob) { addThumb(fs, code, blob); })
          .catch(function () { say(msg('photo-bad')); });
      })).then(function () { if (statusLine.textContent === msg('scaling')) { say(''); } });
    });
  });

  function addThumb(fs, code, blob) {
    // The server takes at most this many photos per item: say so here rather than refuse the inspection.
    if (photos[code].length >= parseInt(form.getAttribute('data-max-photos'), 10)) {
      say(msg('photo-count'));
      return;
    }
    var key = newRef();
    photos[code].push({key: key, blob: blob});
    var fig = document.createElement('figure');
    var img = document.createElement('img');
    img.src = URL.createObjectURL(blob);
    img.alt = '';
    var drop = document.createElement('button');
    drop.type = 'button';
    drop.textContent = '×';
    drop.onclick = function () {
      photos[code] = photos[code].filter(function (p) { return p.key !== key; });
      fig.remove();
    };
    fig.appendChild(img);
    fig.appendChild(drop);
    fs.querySelector('.thumbs').appendChild(fig);
  }

  document.getElementById('rest-pass').addEventListener('click', function () {
    items().forEach(function (fs) {
      if (!resultOf(fs)) {
        var pass = fs.querySelector('.r-pass input');
        pass.checked = true;
        pass.dispatchEvent(new Event('change'));
      }
    });
  });

  function collect() {
    var out = [], unanswered = 0, missingNote = [];
    items().forEach(function (fs) {
      var code = fs.getAttribute('data-code'), r = resultOf(fs);
      if (!r) { unanswered += 1; return; }
      var entry = {item: code, result: r, note: '', severity: null, photos: []};
      if (r === 'fail') {
        entry.note = fs.querySelector('textarea').value.trim();
        var sev = fs.querySelector('.sev input:checked');
        entry.severity = sev ? sev.value : fs.getAttribute('data-sev');
        entry.photos = photos[code].map(function (p) { return p.key; });
        if (!entry.note) { missingNote.push(code); }
      }
      out.push(entry);
    });
    return {items: out, unanswered: unanswered, missingNote: missingNote};
  }

  document.getElementById('review').addEventListener('click', function () {
    var data = collect(), panel = document.getElementById('review-panel');
    var body = document.getElementById('review-body');
    body.textContent = '';
    var lines = [];
    if (!data.items.length) { say(msg('none')); panel.hidden = true; return; }
    if (data.missingNote.length) {
      say(msg('note') + ' ' + data.missingNote.join(', '));
      document.getElementById('item-' + data.missingNote[0]).scrollIntoView();
      panel.hidden = true;
      return;
    }
    say('');
    var count = {pass: 0, fail: 0, na: 0};
    data.items.forEach(function (i) { count[i.result] += 1; });
    lines.push(form.getAttribute('data-label-pass') + ' ' + count.pass + ' · ' +
               form.getAttribute('data-label-fail') + ' ' + count.fail + ' · ' +
               form.getAttribute('data-label-na') + ' ' + count.na);
    if (data.unanswered) { lines.push(msg('unanswered').replace('{n}', data.unanswered)); }
    lines.forEach(function (text) { var p = document.createElement('p'); p.textContent = text; body.appendChild(p); });
    var ul = document.createElement('ul');
    data.items.filter(function (i) { return i.result === 'fail'; }).forEach(function (i) {
      var li = document.createElement('li');
      var legend = document.getElementById('item-' + i.item).querySelector('legend').textContent;
      li.textContent = legend + ' — ' + form.getAttribute('data-label-' + i.severity) + ' · ' +
        form.getAttribute('data-label-photos') + ' ' + i.photos.length;
      if (i.severity === 'major') { li.className = 'review-major'; }
      ul.appendChild(li);
    });
    body.appendChild(ul);
    panel.hidden = false;
    panel.scrollIntoView();
  });

  // Kept on the phone and sent later (the signal came back): show what arrived.
  window.addEventListener('tracker:sent', function (event) {
    if (clientRef && event.detail.client_ref === clientRef) {
      window.location.href = '/inspect/done/' + event.detail.answer.id;
    }
  });

  document.getElementById('submit').addEventListener('click', function () {
    var button = this, data = collect();
    if (!data.items.length || data.missingNote.length) { return; }
    button.disabled = true;
    clientRef = clientRef || newRef();   // once per inspection: a repeat is the same inspection
    var blobs = {};
    data.items.forEach(function (i) {
      (photos[i.item] || []).forEach(function (p) { if (i.photos.indexOf(p.key) >= 0) { blobs[p.key] = p.blob; } });
    });
    var record = {
      client_ref: clientRef, created: Date.now(), facility_name: form.getAttribute('data-facility-name'),
      body: {facility_id: Number(form.getAttribute('data-facility')), mode: form.getAttribute('data-mode'),
             client_ref: clientRef, items: data.items},
      blobs: blobs, uploaded: {}, error: null
    };
    var Q = window.TrackerQueue;
    say(msg('sending'));
    Q.put(record).then(function () { return Q.send(record); }).then(function (answer) {
      window.location.href = '/inspect/done/' + answer.id;
    }).catch(function (error) {
      if (error instanceof Q.HttpError && error.status !== 401 && error.status !== 403 && error.status < 500) {
        say(msg('failed') + ' ' + error.detail);
        button.disabled = false;
      } else {
        say(msg('queued'));
      }
      Q.render();
    });
  });
})();
