/* Walking the checklist on a phone: one section at a time under a progress bar, answered items folded to one
   line, photos shrunk on the phone, the draft kept on the phone as it is typed (queue.js, TrackerDrafts), a
   review one tap away, and a submission kept on the phone until the server has it. */
(function () {
  'use strict';
  var form = document.getElementById('inspection');
  if (!form) { return; }
  var msg = function (name) { return form.getAttribute('data-msg-' + name); };
  var label = function (name) { return form.getAttribute('data-label-' + name); };
  var fill = function (text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, k) { return values[k] !== undefined ? values[k] : all; });
  };
  var $ = function (id) { return document.getElementById(id); };
  var statusLine = $('status'), refusal = $('refusal'), panel = $('review-panel');
  var Q = window.TrackerQueue, D = Q && Q.drafts, scale = window.trackerPhotos.scale;
  var MAX_NOTE = parseInt(form.getAttribute('data-max-note'), 10);
  var MAX_PHOTOS = parseInt(form.getAttribute('data-max-photos'), 10);
  // One draft per person and walk page: on a shared phone, nobody else's answers come back.
  var walkUrl = window.location.pathname + window.location.search;
  var draftKey = (form.getAttribute('data-user') || '') + '|' + walkUrl;
  var photos = {};   // item code -> [{key, blob}]
  var clientRef = null, handedOver = false, awaiting = false, current = 0, restoring = true;
  // The on-site time: when this walk first opened on the phone, kept by the draft, sent however late it syncs.
  var onsiteAt = new Date();
  var sections = Array.prototype.slice.call(form.querySelectorAll('.walk-section'));

  function newRef() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return 'r-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12);
  }
  function shown(date) {  // China Standard Time, as every page and record gives it
    return new Intl.DateTimeFormat('sv-SE', {timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit',
      day: '2-digit', hour: '2-digit', minute: '2-digit'}).format(date);
  }
  function age(then) {  // how long ago, in the largest whole unit: 刚刚, 12 分钟前, 5 小时前, 3 天前
    var minutes = Math.max(0, Math.floor((Date.now() - then) / 60000));
    if (minutes < 1) { return msg('age-now'); }
    if (minutes < 60) { return fill(msg('age-minutes'), {n: minutes}); }
    if (minutes < 1440) { return fill(msg('age-hours'), {n: Math.floor(minutes / 60)}); }
    return fill(msg('age-days'), {n: Math.floor(minutes / 1440)});
  }
  function showOnsite() { if ($('onsite-time')) { $('onsite-time').textContent = shown(onsiteAt); } }
  function items(root) { return Array.prototype.slice.call((root || form).querySelectorAll('fieldset.item')); }
  function item(code) { return $('item-' + code); }
  function nameOf(code) {
    var fs = item(code);
    return fs ? fs.querySelector('legend').textContent.trim() : code;
  }
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
  function sectionOf(el) { return sections.indexOf(el.closest('.walk-section')); }
  // A note's length as the server counts it: characters, not UTF-16 units.
  function length(text) { return Array.from(text).length; }

  /* ---- one section at a time ---- */

  function show(index, target) {
    current = Math.max(0, Math.min(sections.length - 1, index));
    sections.forEach(function (s, i) { s.hidden = i !== current; });
    panel.hidden = true;
    $('rest-pass').hidden = false;
    $('prev-section').disabled = current === 0;
    $('next-section').disabled = current === sections.length - 1;
    $('section-list').hidden = true;
    $('sections-toggle').setAttribute('aria-expanded', 'false');
    if (target !== false) { (target || form).scrollIntoView({block: 'start'}); }
  }
  $('prev-section').addEventListener('click', function () { show(current - 1); });
  $('next-section').addEventListener('click', function () { show(current + 1); });
  $('sections-toggle').addEventListener('click', function () {
    var list = $('section-list');
    list.hidden = !list.hidden;
    this.setAttribute('aria-expanded', String(!list.hidden));
  });
  $('section-list').querySelectorAll('button[data-goto]').forEach(function (button) {
    button.addEventListener('click', function () { show(parseInt(button.getAttribute('data-goto'), 10)); });
  });
  $('back-to-walk').addEventListener('click', function () { show(current); });

  function progress() {
    var all = items(), done = 0, failed = 0;
    all.forEach(function (fs) {
      var r = resultOf(fs);
      if (r) { done += 1; }
      if (r === 'fail') { failed += 1; }
    });
    $('progress').textContent = fill(msg('progress'), {done: done, total: all.length, fail: failed});
    $('progress-fill').style.width = (all.length ? Math.round(100 * done / all.length) : 0) + '%';
    $('section-list').querySelectorAll('button[data-goto]').forEach(function (button) {
      var own = items(sections[parseInt(button.getAttribute('data-goto'), 10)]);
      var answered = own.filter(resultOf), bad = own.filter(function (fs) { return resultOf(fs) === 'fail'; });
      button.querySelector('.sec-count').textContent = answered.length + '/' + own.length +
        (bad.length ? ' · ' + label('fail') + ' ' + bad.length : '');
      button.classList.toggle('complete', answered.length === own.length);
    });
  }

  /* ---- items ---- */

  function sync(fs) {
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
    // A pass or N/A folds to one line; tapping the line opens it again.
    var fold = (r === 'pass' || r === 'na') && !fs.hasAttribute('data-open');
    fs.classList.toggle('folded', fold);
    var line = fs.querySelector('.fold-line');
    line.hidden = !fold;
    line.textContent = fold ? label(r) + ' · ' + nameOf(fs.getAttribute('data-code')) : '';
  }

  items().forEach(function (fs) {
    var code = fs.getAttribute('data-code');
    photos[code] = [];
    fs.querySelectorAll('.seg input').forEach(function (input) {
      input.addEventListener('change', function () {
        fs.removeAttribute('data-open');
        fs.classList.remove('refused');
        sync(fs);
        progress();
      });
    });
    fs.querySelector('.fold-line').addEventListener('click', function () {
      fs.setAttribute('data-open', '');
      sync(fs);
    });
    fs.querySelector('textarea').addEventListener('input', function () { fs.classList.remove('refused'); });
    var input = fs.querySelector('.photo-input');
    input.addEventListener('change', function () {
      var files = Array.prototype.slice.call(input.files || []);
      input.value = '';
      say(msg('scaling'));
      Promise.all(files.map(function (file) {
        return scale(file).then(function (blob) { addPhoto(fs, code, blob, newRef(), true); })
          .catch(function () { say(msg('photo-bad')); });
      })).then(function () {
        if (statusLine.textContent === msg('scaling')) { say(''); }
        save();
      });
    });
    sync(fs);  // a tap made before this script ran
  });

  function addPhoto(fs, code, blob, key, keep) {
    // The server takes at most this many photos per item: say so here rather than refuse the inspection.
    if (photos[code].length >= MAX_PHOTOS) { say(msg('photo-count')); return; }
    photos[code].push({key: key, blob: blob});
    if (keep && D) { D.putPhoto(draftKey, key, blob).catch(function () { return null; }); }
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
      if (D) { D.dropPhoto(draftKey, key).catch(function () { return null; }); }
      save();
    };
    fig.appendChild(img);
    fig.appendChild(drop);
    fs.querySelector('.thumbs').appendChild(fig);
  }

  /* "The rest have no hazard": only the items not answered yet, in every section; said how many, and where. */
  $('rest-pass').addEventListener('click', function () {
    var marked = 0, where = [];
    sections.forEach(function (section) {
      var open = items(section).filter(function (fs) { return !resultOf(fs); });
      open.forEach(function (fs) {
        var pass = fs.querySelector('.r-pass input');
        pass.checked = true;
        pass.dispatchEvent(new Event('change'));
      });
      marked += open.length;
      if (open.length) { where.push(fill(msg('rest-section'), {name: section.getAttribute('data-name'), n: open.length})); }
    });
    if (!marked) { say(msg('rest-none')); return; }
    say(sections.length > 1 ? fill(msg('rest-done'), {n: marked, sections: where.join(msg('list-sep'))})
                            : fill(msg('rest-done-one'), {n: marked}));
    save();
  });

  /* ---- the draft: saved as typed, restored on opening ---- */

  function snapshot() {
    var answers = {};
    items().forEach(function (fs) {
      var r = resultOf(fs), reason = fs.querySelector('.downgrade input');
      var note = fs.querySelector('textarea').value;
      if (!r && !note) { return; }
      answers[fs.getAttribute('data-code')] = {result: r, note: note, severity: chosenSeverity(fs),
                                               reason: reason ? reason.value : ''};
    });
    var present = $('person-present'), lone = $('lone'), kept = {};
    Object.keys(photos).forEach(function (code) {  // the blobs are kept apart (addPhoto)
      if (photos[code].length) { kept[code] = photos[code].map(function (p) { return p.key; }); }
    });
    return {key: draftKey, saved: Date.now(), onsite_at: onsiteAt.toISOString(), client_ref: clientRef,
            section: current, answers: answers, photos: kept, crew: crew(),
            lone: lone ? lone.checked : false, present: present ? present.value : ''};
  }
  var timer = null;
  function save() {
    if (!D || restoring) { return; }
    clearTimeout(timer);
    timer = setTimeout(function () { D.put(snapshot()).catch(function () { return null; }); }, 200);
  }
  form.addEventListener('input', save);
  form.addEventListener('change', save);

  function restore(draft) {
    onsiteAt = new Date(draft.onsite_at);
    clientRef = draft.client_ref || null;
    Object.keys(draft.answers || {}).forEach(function (code) {
      var fs = item(code), a = draft.answers[code];
      if (!fs) { return; }
      if (a.result) { fs.querySelector('.seg:not(.sev) input[value=' + a.result + ']').checked = true; }
      fs.querySelector('textarea').value = a.note || '';
      var sev = fs.querySelector('.sev input[value=' + a.severity + ']');
      if (sev) { sev.checked = true; }
      var reason = fs.querySelector('.downgrade input');
      if (reason) { reason.value = a.reason || ''; }
      fs.querySelector('textarea').dispatchEvent(new Event('input'));  // the counter (counter.js)
      sync(fs);
    });
    Object.keys(draft.photos || {}).forEach(function (code) {
      var fs = item(code);
      (fs ? draft.photos[code] : []).forEach(function (key) {
        if (draft.blobs[key]) { addPhoto(fs, code, draft.blobs[key], key, false); }
      });
    });
    form.querySelectorAll('input[name=co]').forEach(function (input) {
      input.checked = (draft.crew || []).indexOf(Number(input.value)) >= 0;
    });
    if ($('lone')) { $('lone').checked = !!draft.lone; }
    if ($('person-present')) { $('person-present').value = draft.present || ''; }
    $('draft-text').textContent = fill(msg('restored'), {time: shown(new Date(draft.saved)), age: age(draft.saved),
                                                         days: D.keepDays});
    $('draft-note').hidden = false;
    show(draft.section || 0);
  }

  $('draft-discard').addEventListener('click', function () {
    if (!window.confirm(this.textContent + '?')) { return; }
    var forget = D ? D.remove(draftKey) : Promise.resolve();
    handedOver = true;  // nothing left to lose
    forget.catch(function () { return null; }).then(function () { window.location.reload(); });
  });

  /* ---- leaving ---- */

  window.addEventListener('beforeunload', function (event) {
    if (handedOver || !items().some(resultOf)) { return; }
    event.preventDefault();
    event.returnValue = msg('leave');
    return msg('leave');
  });

  /* ---- review and submission ---- */

  function collect() {
    var out = [], unanswered = 0, missingNote = [], missingReason = [], tooLong = [];
    items().forEach(function (fs) {
      var code = fs.getAttribute('data-code'), r = resultOf(fs);
      if (!r) { unanswered += 1; return; }
      var entry = {item: code, result: r, note: '', severity: null, photos: [], severity_reason: ''};
      if (r === 'fail' || r === 'fixed') {
        entry.note = fs.querySelector('textarea').value.trim();
        entry.photos = photos[code].map(function (p) { return p.key; });
        if (!entry.note) { missingNote.push(code); }
        if (length(entry.note) > MAX_NOTE) { tooLong.push(code); }
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
    var present = $('person-present');
    return {items: out, unanswered: unanswered, missingNote: missingNote, missingReason: missingReason,
            tooLong: tooLong, inspectors: crew(), person_present: present ? present.value.trim() : ''};
  }

  function tooLongWords(code) {
    var note = item(code).querySelector('textarea').value.trim();
    return fill(msg('too-long'), {item: nameOf(code), max: MAX_NOTE, n: length(note)});
  }

  /* What stops the review: a note missing or too long, a downgrade's reason missing, no co-inspector chosen
     (unless this is a lone check, said so), no person present named. Returns [message, element], or null. */
  function blocker(data) {
    if (!data.items.length) { return [msg('none'), null]; }
    if (data.tooLong.length) { return [tooLongWords(data.tooLong[0]), item(data.tooLong[0])]; }
    if (data.missingNote.length) { return [msg('note') + ' ' + data.missingNote.join(', '), item(data.missingNote[0])]; }
    if (data.missingReason.length) {
      return [msg('reason') + ' ' + data.missingReason.join(', '), item(data.missingReason[0])];
    }
    if (form.getAttribute('data-crew') === 'yes') {
      if (!data.inspectors.length && !$('lone').checked) { return [msg('crew'), $('onsite')]; }
      if (form.getAttribute('data-present-required') === 'yes' && !data.person_present) {
        return [msg('present'), $('onsite')];
      }
    }
    return null;
  }

  function point(element) {
    if (!element) { return; }
    if (element.classList.contains('item')) {
      element.classList.add('refused');
      element.setAttribute('data-open', '');
      sync(element);
    }
    show(sectionOf(element), element);
  }

  $('review').addEventListener('click', function () {
    var data = collect(), body = $('review-body');
    var blocked = blocker(data);
    if (blocked) {
      say(blocked[0]);
      point(blocked[1]);
      return;
    }
    say('');
    body.textContent = '';
    var count = {pass: 0, fail: 0, na: 0, fixed: 0}, lines = [];
    data.items.forEach(function (i) { count[i.result] += 1; });
    lines.push(label('pass') + ' ' + count.pass + ' · ' + label('fail') + ' ' + count.fail + ' · ' +
               (count.fixed ? label('fixed') + ' ' + count.fixed + ' · ' : '') + label('na') + ' ' + count.na);
    if (data.unanswered) { lines.push(msg('unanswered').replace('{n}', data.unanswered)); }
    lines.forEach(function (text) { var p = document.createElement('p'); p.textContent = text; body.appendChild(p); });
    var ul = document.createElement('ul');
    data.items.filter(function (i) { return i.result === 'fail' || i.result === 'fixed'; }).forEach(function (i) {
      var li = document.createElement('li');
      var grade = i.result === 'fixed' ? label('fixed') : i.severity_reason ? label('pending') : label(i.severity);
      li.textContent = nameOf(i.item) + ' — ' + grade + ' · ' + label('photos') + ' ' + i.photos.length;
      if (i.severity === 'major' || i.severity_reason) { li.className = 'review-major'; }
      ul.appendChild(li);
    });
    body.appendChild(ul);
    sections.forEach(function (s) { s.hidden = true; });
    $('rest-pass').hidden = true;
    panel.hidden = false;
    panel.scrollIntoView({block: 'start'});
  });

  /* A refusal in words, at the item it is about: the server's answer is {detail, field, errors}. */
  function refusalWords(error, body) {
    var problems = error.errors && error.errors.length ? error.errors
      : [{field: error.field || '', message: error.detail}];
    var first = null;
    var words = problems.map(function (p) {
      var text = typeof p.message === 'string' ? p.message : JSON.stringify(p.message);
      var m = /^items\.(\d+)(?:\.(\w+))?$/.exec(p.field || '');
      var code = m && body.items[Number(m[1])] ? body.items[Number(m[1])].item : null;
      if (code && item(code)) { first = first || item(code); }
      if (code && m[2] === 'note' && /at most|too long/i.test(text)) { return tooLongWords(code); }
      if (p.field === 'inspectors') { first = first || $('onsite'); return msg('crew-gone'); }
      if (code) { return fill(msg('refused-item'), {item: nameOf(code), why: text}); }
      return msg('failed') + ' ' + text;
    });
    return [words.join(' '), first];
  }
  function showRefusal(error, body) {
    var words = refusalWords(error, body);
    refusal.textContent = words[0];
    refusal.hidden = false;
    say(words[0]);
    point(words[1]);
    return words[0];
  }

  // Kept on the phone and sent later (the signal came back): show what arrived.
  window.addEventListener('tracker:sent', function (event) {
    if (clientRef && event.detail.client_ref === clientRef) {
      handedOver = true;
      window.location.href = '/inspect/done/' + event.detail.answer.id;
    }
  });

  // Refused by the server, now or when the signal came back: said here in words, at the item, to be put right.
  window.addEventListener('tracker:refused', function (event) {
    if (clientRef && event.detail.client_ref === clientRef) {
      handedOver = false;
      $('submit').disabled = false;
      var words = showRefusal(event.detail.error, event.detail.body);
      if (awaiting) { return; }  // the submission below drops it from the outbox
      // The waiting inspection says it in these words on every page, not in the server's.
      Q.all().then(function (records) {
        var kept = records.filter(function (r) {
          return (r.first_ref || r.client_ref) === event.detail.client_ref;
        })[0];
        if (kept) { kept.words = words; return Q.put(kept).then(Q.render); }
        return null;
      }).catch(function () { return null; });
    }
  });

  $('submit').addEventListener('click', function () {
    var button = this, data = collect();
    if (blocker(data)) { return; }
    button.disabled = true;
    refusal.hidden = true;
    clientRef = clientRef || newRef();   // once per inspection, kept by the draft: a repeat is the same one
    var blobs = {}, names = {};
    data.items.forEach(function (i) {
      (photos[i.item] || []).forEach(function (p) { if (i.photos.indexOf(p.key) >= 0) { blobs[p.key] = p.blob; } });
      if (i.result === 'fail' || i.result === 'fixed') { names[i.item] = nameOf(i.item); }
    });
    var record = {
      client_ref: clientRef, created: Date.now(), facility_name: form.getAttribute('data-facility-name'),
      edit_url: walkUrl, draft_key: draftKey, names: names,
      body: {facility_id: Number(form.getAttribute('data-facility')), mode: form.getAttribute('data-mode'),
             client_ref: clientRef, items: data.items, onsite_at: onsiteAt.toISOString(),
             inspectors: data.inspectors, person_present: data.person_present},
      blobs: blobs, uploaded: {}, error: null
    };
    say(msg('sending'));
    var kept = D ? D.put(snapshot()).catch(function () { return null; }) : Promise.resolve();
    kept.then(function () { return Q.put(record); }).then(function () {
      handedOver = true;  // on the phone in the outbox now: leaving loses nothing
      awaiting = true;
      return Q.send(record);
    }).then(function (answer) {
      window.location.href = '/inspect/done/' + answer.id;
    }).catch(function (error) {
      awaiting = false;
      if (error instanceof Q.HttpError && (error.status === 401 || error.status === 403)) {
        say(msg('login'));
      } else if (error instanceof Q.HttpError && error.status < 500) {
        // Refused while this page waited for the answer (said by tracker:refused): the draft is here to be put
        // right, so the outbox need not keep it.
        Q.remove(record.client_ref).catch(function () { return null; }).then(Q.render);
        return;
      } else {
        say(msg('queued'));
      }
      Q.render();
    });
  });

  /* Opening: the draft of this walk if there is one, and a refusal it met while queued. */
  function opened(draft) {
    restoring = false;
    if (draft) { restore(draft); } else { show(0, false); }
    showOnsite();
    progress();
    form.setAttribute('data-ready', '');
    if (!draft || !draft.client_ref) { return null; }
    return Q.all().then(function (records) {
      records.forEach(function (r) {
        if ((r.first_ref || r.client_ref) === draft.client_ref && r.error) {
          showRefusal({detail: r.error, field: r.error_field, errors: r.errors}, r.body);
        }
      });
    });
  }
  (D ? D.get(draftKey).catch(function () { return null; }) : Promise.resolve(null))
    .then(opened).catch(function () { return null; });
})();
