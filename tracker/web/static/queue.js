/* Inspections waiting to be sent: kept in IndexedDB on the phone, sent with the same client_ref
   whenever a connection is there (on load, on `online`, or by hand). */
(function () {
  'use strict';
  var DB = 'tracker', STORE = 'outbox', sending = {};
  var bar = document.getElementById('queue');

  function open(name, store, key) {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(name, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(store, {keyPath: key}); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function inStore(name, store, key) {
    return function (mode, fn) {
      return open(name, store, key).then(function (db) {
        return new Promise(function (resolve, reject) {
          var t = db.transaction(store, mode), out = fn(t.objectStore(store));
          t.oncomplete = function () { db.close(); resolve(out && out.result !== undefined ? out.result : out); };
          t.onerror = function () { db.close(); reject(t.error); };
        });
      });
    };
  }
  var tx = inStore(DB, STORE, 'client_ref');
  /* The walk's draft (inspect.js) as it is typed, one per walk page (keyed by its path and query): the answers
     in one record, each photo in its own ("<key>#<photo>"), so typing a note does not write the photos again.
     Gone once the inspection is sent. Its own database: the outbox's is never upgraded under an open page. */
  var draftTx = inStore('tracker-drafts', 'drafts', 'key');
  function photosOf(key) { return IDBKeyRange.bound(key + '#', key + '#\uffff'); }
  /* A draft left untouched this many days is dropped when any page opens, with its photos: a walk abandoned
     weeks ago does not come back, nor fill the phone. A photo kept without its draft goes with it. */
  var KEEP_DAYS = 7;
  function expire(now) {
    if (!window.indexedDB) { return Promise.resolve(0); }
    var before = now - KEEP_DAYS * 86400000, dropped = 0;
    return draftTx('readwrite', function (s) {
      var kept = {};
      s.openCursor().onsuccess = function (e) {  // keys in order: a draft comes before its "<key>#…" photos
        var c = e.target.result;
        if (!c) { return; }
        var key = String(c.key), hash = key.indexOf('#'), draft = hash < 0 ? null : kept[key.slice(0, hash)];
        if (hash < 0) {
          kept[key] = !(c.value.saved < before);
          if (!kept[key]) { c.delete(); dropped += 1; }
        } else if (draft === false || (draft === undefined && !(c.value.saved >= before))) {
          c.delete();  // a photo goes with its draft; one without a draft (or a time), once as old
        }
        c.continue();
      };
    }).then(function () { return dropped; });
  }
  var expired = expire(Date.now()).catch(function () { return 0; });
  var drafts = {
    keepDays: KEEP_DAYS,
    get: function (key) {  // the draft with its photos' blobs as {photo key: blob}, or null
      var draft = null, blobs = {};
      return expired.then(function () { return draftTx('readonly', function (s) {
        s.get(key).onsuccess = function (e) { draft = e.target.result || null; };
        s.getAll(photosOf(key)).onsuccess = function (e) {
          e.target.result.forEach(function (p) { blobs[p.key.slice(key.length + 1)] = p.blob; });
        };
      }); }).then(function () {
        if (draft) { draft.blobs = blobs; }
        return draft;
      });
    },
    put: function (draft) { return draftTx('readwrite', function (s) { s.put(draft); }); },
    putPhoto: function (key, photo, blob) {
      return draftTx('readwrite', function (s) { s.put({key: key + '#' + photo, blob: blob, saved: Date.now()}); });
    },
    dropPhoto: function (key, photo) { return draftTx('readwrite', function (s) { s.delete(key + '#' + photo); }); },
    remove: function (key) {
      return draftTx('readwrite', function (s) { s.delete(key); s.delete(photosOf(key)); });
    }
  };
  function put(record) { return tx('readwrite', function (s) { s.put(record); }); }
  function remove(ref) { return tx('readwrite', function (s) { s.delete(ref); }); }
  function all() { return tx('readonly', function (s) { return s.getAll(); }); }
  function csrf() { return bar ? bar.getAttribute('data-csrf') : ''; }

  // detail is the server's sentence; a validation error also lists its problems as [{field, message}].
  function HttpError(status, detail, field, errors) {
    this.status = status;
    this.detail = typeof detail === 'string' ? detail : JSON.stringify(detail);
    this.field = field;
    this.errors = Array.isArray(errors) ? errors : null;
  }
  function newRef() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return 'r-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12);
  }

  function post(url, body, json) {
    var headers = {'X-CSRF-Token': csrf()};
    if (json) { headers['Content-Type'] = 'application/json'; }
    return fetch(url, {method: 'POST', body: body, headers: headers, credentials: 'same-origin'})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) { throw new HttpError(r.status, data.detail || r.statusText, data.field, data.errors); }
          return data;
        });
      });
  }

  /* Upload the photos not yet uploaded, then the inspection. Resolves with the API's answer;
     rejects with a TypeError when offline, or an HttpError when the server answered no. */
  function send(record) {
    if (sending[record.client_ref]) { return sending[record.client_ref]; }
    var keys = Object.keys(record.blobs || {}).filter(function (k) { return !record.uploaded[k]; });
    var chain = Promise.resolve();
    keys.forEach(function (key) {
      chain = chain.then(function () {
        var form = new FormData();
        form.append('file', record.blobs[key], key + '.jpg');
        return post('/api/photos', form, false).then(function (data) {
          record.uploaded[key] = data.id;
          return put(record);
        });
      });
    });
    var p = chain.then(function () {
      var body = JSON.parse(JSON.stringify(record.body));
      body.items.forEach(function (item) {
        item.photos = (item.photos || []).map(function (k) { return record.uploaded[k]; });
      });
      return post('/api/inspections', JSON.stringify(body), true);
    }).then(function (answer) {
      var key = record.draft_key || record.edit_url;  // queued before drafts were kept per person
      var forget = key ? drafts.remove(key).catch(function () { return null; }) : null;
      return Promise.all([remove(record.client_ref), forget]).then(function () {
        window.dispatchEvent(new CustomEvent('tracker:sent',
          {detail: {client_ref: record.first_ref || record.client_ref, answer: answer}}));
        return answer;
      });
    }).catch(function (error) {
      // The ref was taken by another submission (the server shows nothing of it): the same inspection goes
      // again under a fresh ref, once, so nothing the inspector recorded is lost.
      if (error instanceof HttpError && error.status === 409 && error.field === 'client_ref' && !record.rekeyed) {
        var old = record.client_ref;
        record.first_ref = record.first_ref || old;
        record.client_ref = record.body.client_ref = newRef();
        record.rekeyed = true;
        return put(record).then(function () { return remove(old); }).then(function () {
          delete sending[old];
          return send(record);
        });
      }
      if (error instanceof HttpError && error.status >= 400 && error.status < 500 &&
          error.status !== 401 && error.status !== 403) {
        record.error = error.detail;
        record.error_field = error.field || null;
        record.errors = error.errors;
        return put(record).then(function () {
          window.dispatchEvent(new CustomEvent('tracker:refused',
            {detail: {client_ref: record.first_ref || record.client_ref, error: error, body: record.body}}));
          throw error;
        });
      }
      throw error;
    });
    sending[record.client_ref] = p;
    p.then(done, done);
    function done() { delete sending[record.client_ref]; render(); }
    return p;
  }

  function flush() {
    if (!window.indexedDB) { return Promise.resolve(); }
    return all().then(function (records) {
      return Promise.all(records.filter(function (r) { return !r.error; }).map(function (r) {
        return send(r).catch(function () { return null; });
      }));
    }).then(render);
  }

  function label(name) { return bar.getAttribute('data-label-' + name); }

  // The server's refusal as a sentence, naming the checklist item it is about rather than "items.3.note".
  function refusal(r) {
    var problems = r.errors && r.errors.length ? r.errors : [{field: r.error_field || '', message: r.error}];
    return problems.map(function (p) {
      var m = /^items\.(\d+)/.exec(p.field || ''), entry = m && r.body.items[Number(m[1])];
      var text = typeof p.message === 'string' ? p.message : JSON.stringify(p.message);
      return entry ? ((r.names || {})[entry.item] || entry.item) + ': ' + text : text;
    }).join('; ');
  }

  function render() {
    if (!bar || !window.indexedDB) { return Promise.resolve(); }
    return all().then(function (records) {
      bar.textContent = '';
      bar.hidden = records.length === 0;
      if (!records.length) { return; }
      var p = document.createElement('p');
      p.textContent = label('waiting') + ' ' + records.length;
      p.id = 'queue-count';
      bar.appendChild(p);
      var ul = document.createElement('ul');
      records.forEach(function (r) {
        var li = document.createElement('li');
        li.textContent = r.facility_name + ' · ' + new Date(r.created).toLocaleString() + ' · ' + r.body.items.length;
        if (r.error) {
          var why = document.createElement('strong');
          why.className = 'refused';
          why.textContent = ' · ' + (r.words || label('failed') + ' ' + refusal(r));
          li.appendChild(why);
          if (r.edit_url) {  // back to the walk, its draft restored, to put right and send again
            var edit = document.createElement('a');
            edit.className = 'btn queue-edit';
            edit.href = r.edit_url;
            edit.textContent = label('edit') || '✎';
            li.appendChild(edit);
          }
          var drop = document.createElement('button');
          drop.type = 'button'; drop.textContent = label('drop');
          drop.onclick = function () { remove(r.client_ref).then(render); };
          li.appendChild(drop);
        }
        ul.appendChild(li);
      });
      bar.appendChild(ul);
      // Sending again is for what waits for a signal; a refused one is put right first.
      if (!records.some(function (r) { return !r.error; })) { return; }
      var again = document.createElement('button');
      again.type = 'button'; again.textContent = label('send');
      again.onclick = flush;
      bar.appendChild(again);
    }).catch(function () { return null; });
  }

  window.TrackerQueue = {put: put, send: send, flush: flush, render: render, HttpError: HttpError,
                         remove: remove, all: all, drafts: drafts, available: !!window.indexedDB};
  window.addEventListener('online', flush);
  if (navigator.onLine) { flush(); } else { render(); }

  /* The service worker keeps the static files and the last pages, so they open with no signal. */
  if ('serviceWorker' in navigator) {
    var here = window.location.href, controlled = !!navigator.serviceWorker.controller;
    navigator.serviceWorker.register('/sw.js', {scope: '/'}).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      // This page came before the worker took control: ask it to keep a copy.
      // (Asked whenever the page loaded uncontrolled: the worker may have claimed it since, without a copy.)
      if (!controlled && registration.active) {
        registration.active.postMessage({type: 'keep', url: here});
      }
    }).catch(function () { return null; });
    document.querySelectorAll('form[action="/logout"]').forEach(function (form) {
      form.addEventListener('submit', function () {
        if (navigator.serviceWorker.controller) { navigator.serviceWorker.controller.postMessage({type: 'forget'}); }
        if (window.caches) { caches.delete('tracker-pages-v1'); }
        // Unsent drafts go with the session: the next person on this phone starts clean.
        if (window.indexedDB) { indexedDB.deleteDatabase('tracker-drafts'); }
      });
    });
  }
})();
