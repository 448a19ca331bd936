/* The service worker: keeps the pages' static files and the last pages visited on the phone, so the
   inspection page opens with no signal. Pages go to the network first and fall back to the copy kept here;
   static files come from here first and are refreshed behind the scenes. The API is never cached: the
   inspections waiting to be sent live in IndexedDB (queue.js). */
'use strict';

var STATIC = 'tracker-static-v6';
var PAGES = 'tracker-pages-v1';
var MAX_PAGES = 40;
var ASSETS = ['/static/app.css', '/static/queue.js', '/static/photos.js', '/static/inspect.js', '/static/counter.js'];
// The pages worth having without signal; never the login, language switch or the API.
var PAGE_PREFIXES = ['/inspect', '/my', '/findings/', '/orders/', '/self-report'];

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(STATIC).then(function (cache) { return cache.addAll(ASSETS); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n !== STATIC && n !== PAGES; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

function isPage(url) {
  if (url.pathname === '/') { return true; }
  return PAGE_PREFIXES.some(function (p) { return url.pathname.indexOf(p) === 0; }) &&
    url.pathname.slice(-4) !== '/pdf' && url.pathname.indexOf('/photos/') < 0;
}

function trim(cache) {
  return cache.keys().then(function (keys) {
    var extra = keys.length - MAX_PAGES;
    return Promise.all(keys.slice(0, Math.max(0, extra)).map(function (k) { return cache.delete(k); }));
  });
}

function keepPage(request, response) {
  // Only a whole page of ours, not an error or a redirect to the login.
  if (!response || response.status !== 200 || response.type !== 'basic' || response.redirected) {
    return Promise.resolve();
  }
  // Nor a page that asks not to be kept (an order opened by its mailed link).
  if ((response.headers.get('Cache-Control') || '').indexOf('no-store') >= 0) { return Promise.resolve(); }
  var copy = response.clone();
  return caches.open(PAGES).then(function (cache) {
    // Delete first so that the newest visit is the last key, and trimming drops the oldest.
    return cache.delete(request.url).then(function () { return cache.put(request.url, copy); })
      .then(function () { return trim(cache); });
  });
}

function networkFirst(event) {
  var request = event.request;
  return fetch(request).then(function (response) {
    event.waitUntil(keepPage(request, response));
    return response;
  }).catch(function (error) {
    return caches.open(PAGES).then(function (cache) { return cache.match(request.url); })
      .then(function (kept) { if (kept) { return kept; } throw error; });
  });
}

function cacheFirst(event) {
  var request = event.request;
  return caches.open(STATIC).then(function (cache) {
    return cache.match(request, {ignoreSearch: true}).then(function (kept) {
      var fresh = fetch(request).then(function (response) {
        if (response && response.status === 200) { return cache.put(request, response.clone()).then(function () { return response; }); }
        return response;
      });
      if (kept) {
        event.waitUntil(fresh.catch(function () { return null; }));
        return kept;
      }
      return fresh;
    });
  });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf('/static/') === 0) {
    event.respondWith(cacheFirst(event));
  } else if (request.mode === 'navigate' && isPage(url)) {
    event.respondWith(networkFirst(event));
  }
});

self.addEventListener('message', function (event) {
  var data = event.data || {};
  if (data.type === 'keep' && data.url) {
    // A page opened before this worker took control: fetch and keep it now.
    var url = new URL(data.url, self.location.origin);
    if (url.origin !== self.location.origin || !isPage(url)) { return; }
    var request = new Request(url.href, {credentials: 'same-origin'});
    event.waitUntil(fetch(request).then(function (response) { return keepPage(request, response); })
      .catch(function () { return null; }));
  } else if (data.type === 'forget') {
    // Logged out: nobody else on this phone sees the pages kept for the last person.
    event.waitUntil(caches.delete(PAGES));
  }
});
