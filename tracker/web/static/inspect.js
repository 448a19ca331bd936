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
  // The on-site time: when this page opened on the phone, sent with the inspection however late it syncs.
  var onsiteAt = new Date();
  var onsiteLine = document.getElementById('onsite-time');
  if (onsiteLine) {  // shown in China Standard Time, as every page and record gives it
    onsiteLine.textContent = new Intl.DateTimeFormat('sv-SE', {timeZone: 'Asia/Shanghai', year: 'numeric',
      month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'}).format(onsiteAt);
  }

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
  function chosenSeverity(fs) {
    var sev = fs.querySelector('.sev input:checked');
    return sev ? sev.value : fs.getAttribute('data-sev');
  }
  function crew() {
    return Array.prototype.slice.call(form.querySelectorAll('input[name=co]:checked'))
      .map(function (input) { return Number(input.value); });
  }
  function presentField() { return document.getElementById('person-present'); }

  items().forEach(function (fs) {
    var code = fs.getAttribute('data-code');
    photos[code] = [];
    var sync = function () {
      var r = resultOf(fs);
      fs.classList.toggle('failed', r === 'fail');
      fs.classList.toggle('fixed', r === 'fixed');
      fs.classList.toggle('passed', r === 'pass');
      fs.querySelector('.fail-details').hidden = r !== 'fail' && r !== 'fixed';
      fs.querySelector('.sev').hidden = r !== 'fail';
      fs.querySelector('.note-fail').hidden = r === 'fixed';
      fs.querySelector('.note-fixed').hidden = r !== 'fixed';
      var reason = fs.querySelector('.downgrade');
      if (reason) { reason.hidden = !(r === 'fail' && chosenSeverity(fs) === 'general'); }
    };
    fs.querySelectorAll('.seg input').forEach(function (input) {
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
    var out = [], unanswered = 0, missingNote = [], missingReason = [];
    items().forEach(function (fs) {
      var code = fs.getAttribute('data-code'), r = resultOf(fs);
      if (!r) { unanswered += 1; return; }
      var entry = {item: code, result: r, note: '', severity: null, photos: [], severity_reason: ''};
      if (r === 'fail' || r === 'fixed') {
        entry.note = fs.querySelector('textarea').value.trim();
        entry.photos = photos[code].map(function (p) { return p.key; });
        if (!entry.note) { missingNote.push(code); }
      }
      if (r === 'fail') {
        entry.severity = chosenSeverity(fs);
        var reason = fs.querySelector('.downgrade input');
        if (reason && entry.severity === 'general' && fs.getAttribute('data-sev') === 'major') {
          entry.severity_reason = reason.value.trim();
          if (!entry.severity_reason) { missingReason.push(code); }
        }
      }
      out.push(entry);
    });
    var present = presentField();
    return {items: out, unanswered: unanswered, missingNote: missingNote, missingReason: missingReason,
            inspectors: crew(), person_present: present ? present.value.trim() : ''};
  }

  /* What stops the review: a note or a downgrade's reason missing, no co-inspector chosen (unless this is
     a lone check, said so), no person present named. Returns the message, or null. */
  function blocker(data) {
    if (!data.items.length) { return [msg('none'), null]; }
    if (data.missingNote.length) { return [msg('note') + ' ' + data.missingNote.join(', '), 'item-' + data.missingNote[0]]; }
    if (data.missingReason.length) {
      return [msg('reason') + ' ' + data.missingReason.join(', '), 'item-' + data.missingReason[0]];
    }
    if (form.getAttribute('data-crew') === 'yes') {
      if (!data.inspectors.length && !document.getElementById('lone').checked) { return [msg('crew'), 'onsite']; }
      if (form.getAttribute('data-present-required') === 'yes' && !data.person_present) {
        return [msg('present'), 'onsite'];
      }
    }
    return null;
  }

  document.getElementById('review').addEventListener('click', function () {
    var data = collect(), panel = document.getElementById('review-panel');
    var body = document.getElementById('review-body');
    body.textContent = '';
    var lines = [];
    var blocked = blocker(data);
    if (blocked) {
      say(blocked[0]);
      if (blocked[1]) { document.getElementById(blocked[1]).scrollIntoView(); }
      panel.hidden = true;
      return;
    }
    say('');
    var count = {pass: 0, fail: 0, na: 0, fixed: 0};
    data.items.forEach(function (i) { count[i.result] += 1; });
    lines.push(form.getAttribute('data-label-pass') + ' ' + count.pass + ' · ' +
               form.getAttribute('data-label-fail') + ' ' + count.fail + ' · ' +
               (count.fixed ? form.getAttribute('data-label-fixed') + ' ' + count.fixed + ' · ' : '') +
               form.getAttribute('data-label-na') + ' ' + count.na);
    if (data.unanswered) { lines.push(msg('unanswered').replace('{n}', data.unanswered)); }
    lines.forEach(function (text) { var p = document.createElement('p'); p.textContent = text; body.appendChild(p); });
    var ul = document.createElement('ul');
    data.items.filter(function (i) { return i.result === 'fail' || i.result === 'fixed'; }).forEach(function (i) {
      var li = document.createElement('li');
      var legend = document.getElementById('item-' + i.item).querySelector('legend').textContent;
      var grade = i.result === 'fixed' ? form.getAttribute('data-label-fixed')
        : i.severity_reason ? form.getAttribute('data-label-pending')
        : form.getAttribute('data-label-' + i.severity);
      li.textContent = legend + ' — ' + grade + ' · ' + form.getAttribute('data-label-photos') + ' ' + i.photos.length;
      if (i.severity === 'major' || i.severity_reason) { li.className = 'review-major'; }
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
    if (blocker(data)) { return; }
    button.disabled = true;
    clientRef = clientRef || newRef();   // once per inspection: a repeat is the same inspection
    var blobs = {};
    data.items.forEach(function (i) {
      (photos[i.item] || []).forEach(function (p) { if (i.photos.indexOf(p.key) >= 0) { blobs[p.key] = p.blob; } });
    });
    var record = {
      client_ref: clientRef, created: Date.now(), facility_name: form.getAttribute('data-facility-name'),
      body: {facility_id: Number(form.getAttribute('data-facility')), mode: form.getAttribute('data-mode'),
             client_ref: clientRef, items: data.items, onsite_at: onsiteAt.toISOString(),
             inspectors: data.inspectors, person_present: data.person_present},
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
