/* EvPower service worker (classic script, scope '/').
 *
 * push                    shows the notification exactly as the API guide's
 *                         service-worker.js does (same defaults), plus
 *                         renotify and timestamp when the payload has them,
 *                         then tells the open pages ({type: 'evpush:push', payload}).
 * notificationclick       opens (or focuses) notification.data.url, same origin
 *                         only; a click on an action button does the same.
 * pushsubscriptionchange  registers the push service's new subscription with
 *                         evpush, using the settings evpush-client.js sent;
 *                         one made with an older VAPID key (or none at all)
 *                         is replaced by one made with the service's current
 *                         key first. The old endpoint is removed on the
 *                         server only once the new one is stored.
 * message                 'evpush:config' / 'evpush:config-clear' (those
 *                         settings) and 'evpush:test-click' (a test hook,
 *                         optionally with the action button to click).
 *
 * Functions are top-level declarations on purpose: the Node tests load this
 * file with `vm` and call them directly.
 */
'use strict';

var API = '/api/v1/notifications';
// Service workers have no localStorage: the settings live in Cache Storage as
// one small JSON response: {token, userType, locale, baseUrl, endpoint}, where
// endpoint is the one the server holds for this browser.
var CONFIG_CACHE = 'evpush';
var CONFIG_KEY = 'evpush-config';

self.addEventListener('install', function (event) {
  event.waitUntil(self.skipWaiting());
});

self.addEventListener('activate', function (event) {
  // Control the already open demo page at once, so it gets 'evpush:push' messages.
  event.waitUntil(self.clients.claim());
});

// ---------------------------------------------------------------------------
// push

/** The push payload as an object: JSON, or a plain-text body, or {}. */
function parsePushData(data) {
  if (!data) return {};
  try {
    var value = data.json();
    if (value && typeof value === 'object') return value;
    return value == null ? {} : { body: String(value) };
  } catch (err) {
    var text = data.text();
    return text ? { body: text } : {};
  }
}

/**
 * Title and options with the guide's defaults, field for field, plus two
 * options the guide lacks, set only when the payload carries them:
 *   renotify   only with the payload's own tag: Chrome throws a TypeError for
 *              renotify with an empty tag, and alerting again on the guide's
 *              catch-all 'default' tag would make every untagged message buzz;
 *   timestamp  ms since the epoch, only a finite, non-negative number (the
 *              browser reads it as unsigned: a negative one would wrap).
 */
function notificationFromPayload(data) {
  var options = {
    body: data.body || 'You have a new notification',
    icon: data.icon || '/logo-192.png',
    badge: data.badge || '/logo-96.png',
    data: data.data || {},
    actions: data.actions || [],
    tag: data.tag || 'default',
    requireInteraction: data.requireInteraction || false,
  };
  if (data.renotify === true && data.tag) options.renotify = true;
  if (typeof data.timestamp === 'number' && isFinite(data.timestamp) && data.timestamp >= 0) {
    options.timestamp = data.timestamp;
  }
  return { title: data.title || 'EvPower Notification', options: options };
}

function windowClients() {
  return self.clients.matchAll({ type: 'window', includeUncontrolled: true });
}

function handlePush(data) {
  var n = notificationFromPayload(parsePushData(data));
  // Show first, then tell the pages: by the time a page hears of it, the
  // notification exists (a test can look it up by tag right away).
  return self.registration.showNotification(n.title, n.options)
    .then(windowClients)
    .then(function (list) {
      // payload: the notification as shown, defaults applied.
      var payload = Object.assign({ title: n.title }, n.options);
      list.forEach(function (client) {
        client.postMessage({ type: 'evpush:push', payload: payload });
      });
    });
}

self.addEventListener('push', function (event) {
  event.waitUntil(handlePush(event.data));
});

// ---------------------------------------------------------------------------
// notificationclick

/**
 * The absolute URL a click opens: data.url resolved on this origin. A URL on
 * another origin (or a javascript: one, or garbage) opens the home page
 * instead: a push payload must not be able to send users elsewhere.
 */
function clickTarget(notification) {
  var origin = self.location.origin;
  var raw = notification && notification.data && notification.data.url;
  try {
    var url = new URL(raw || '/', origin);
    if (url.origin === origin) return url.href;
  } catch (err) {
    // falls through to the home page
  }
  return new URL('/', origin).href;
}

/**
 * What a click on a notification does: close it, then show the target URL:
 *   1. focus a window already showing it;
 *   2. else navigate an open window of this app to it (one app window, as an
 *      installed PWA expects; navigate() needs no user activation);
 *   3. else open a new window.
 * A click on an action button (action non-empty, e.g. 'open') does exactly
 * the same as a click on the body: the payload's actions carry no URL, so
 * every button means "show me". action is only logged.
 *
 * Resolves to {url, via: 'focus'|'navigate'|'open'}, plus `error` when the
 * browser refused: focus and openWindow are allowed only while a real
 * notificationclick is being handled (see the test hook below).
 *
 * @param {Notification} notification
 * @param {string} [action] event.action, '' for a click on the body
 * @returns {Promise<{url: string, via: string, error?: string}>}
 */
function handleNotificationClick(notification, action) {
  notification.close();
  var url = clickTarget(notification);
  var origin = self.location.origin;
  function outcome(via, attempt) {
    return Promise.resolve(attempt).then(
      function () { return { url: url, via: via }; },
      function (err) {
        console.warn('evpush: could not ' + via + ' ' + url + ' (action ' + JSON.stringify(action || '') + '):', err);
        return { url: url, via: via, error: String((err && err.name ? err.name + ': ' : '') + (err && err.message || err)) };
      });
  }
  return windowClients().then(function (list) {
    var exact = list.find(function (client) { return client.url === url; });
    if (exact) return outcome('focus', exact.focus());
    var app = list.find(function (client) {
      return typeof client.navigate === 'function' && new URL(client.url).origin === origin;
    });
    if (!app) return outcome('open', self.clients.openWindow(url));
    // navigate() rejects for a window this worker does not control: open one then.
    return app.navigate(url).then(
      function (client) {
        // Bringing it to the front is a bonus: refused outside a real click.
        var target = client || app;
        return outcome('navigate', Promise.resolve(target.focus && target.focus()).catch(function () {}));
      },
      function () { return outcome('open', self.clients.openWindow(url)); });
  });
}

// One handler for the body and every action button: event.action is '' for
// the body and the button's action otherwise; both show data.url.
self.addEventListener('notificationclick', function (event) {
  event.waitUntil(handleNotificationClick(event.notification, event.action || ''));
});

// ---------------------------------------------------------------------------
// pushsubscriptionchange

function readConfig() {
  return self.caches.open(CONFIG_CACHE)
    .then(function (cache) { return cache.match(CONFIG_KEY); })
    .then(function (response) { return response ? response.json() : null; })
    .catch(function () { return null; });
}

function writeConfig(config) {
  return self.caches.open(CONFIG_CACHE).then(function (cache) {
    return cache.put(CONFIG_KEY, new Response(JSON.stringify(config), {
      headers: { 'Content-Type': 'application/json' },
    }));
  });
}

function clearConfig() {
  return self.caches.open(CONFIG_CACHE).then(function (cache) { return cache.delete(CONFIG_KEY); });
}

// The key helpers below repeat a few lines of evpush-client.js: this worker is
// a classic script and cannot import that ES module.

function base64UrlToBytes(value) {
  var clean = String(value).replace(/=+$/, '');
  var padded = clean + '='.repeat((4 - (clean.length % 4)) % 4);
  var raw = atob(padded.replace(/-/g, '+').replace(/_/g, '/'));
  var bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function bytesToBase64Url(bytes) {
  var raw = '';
  for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
  return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The key a push subscription was made with, as bytes, or null. */
function subscribedKey(subscription) {
  var key = subscription && subscription.options && subscription.options.applicationServerKey;
  if (!key) return null;
  if (ArrayBuffer.isView(key)) return new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
  if (Object.prototype.toString.call(key) === '[object ArrayBuffer]') return new Uint8Array(key);
  return null;
}

function sameBytes(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function apiUrl(baseUrl, path) {
  return String(baseUrl || '').replace(/\/+$/, '') + API + path;
}

function postJSON(url, token, body) {
  return fetch(url, {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(function (response) {
    if (!response.ok) throw new Error('POST ' + url + ': HTTP ' + response.status);
    return response.json().catch(function () { return {}; });
  });
}

/** The service's current VAPID public key, the one new subscriptions must use, as bytes. */
function fetchCurrentKey(baseUrl) {
  var url = apiUrl(baseUrl, '/vapid-public-key');
  return fetch(url).then(function (response) {
    if (!response.ok) throw new Error('GET ' + url + ': HTTP ' + response.status);
    return response.json();
  }).then(function (body) { return base64UrlToBytes(body.data.public_key); });
}

/**
 * The subscription to register: the browser's new one when it was made with
 * the current key; otherwise (none given, or one made with a retiring key) a
 * new one with the current key. A given one on another key is dropped first:
 * the browser holds one subscription per registration and refuses to
 * subscribe with another key over it.
 */
function subscriptionWithKey(newSubscription, key) {
  if (newSubscription && sameBytes(subscribedKey(newSubscription), key)) return Promise.resolve(newSubscription);
  var dropped = newSubscription ? newSubscription.unsubscribe() : Promise.resolve();
  return dropped.then(function () {
    return self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  });
}

/**
 * Removes endpoints this browser no longer uses from the server. Failures are
 * only logged: the new subscription is stored by then, and the server deletes
 * a dead endpoint's row itself on the push service's 404/410.
 */
function retire(endpoints, config) {
  return endpoints.reduce(function (previous, endpoint) {
    return previous.then(function () {
      return postJSON(apiUrl(config.baseUrl, '/unsubscribe'), config.token, { endpoint: endpoint })
        .catch(function (err) { console.warn('evpush: old endpoint not removed:', err); });
    });
  }, Promise.resolve());
}

/**
 * The push service replaced (or expired) the subscription: get one made with
 * the service's current key and register it with evpush, so charging
 * notifications keep arriving without the user opening the app.
 *
 * Order: new subscription, POST it, and only once the server has stored it,
 * remember its endpoint and remove the old ones (the event's oldSubscription
 * and the endpoint the server was last known to hold). A failed POST leaves
 * the old row on the server, and the page's migrate() registers the
 * browser's subscription on its next load.
 *
 * @param {PushSubscription|null} oldSubscription event.oldSubscription
 * @param {PushSubscription|null} newSubscription event.newSubscription (Firefox sets it)
 * @returns {Promise<{subscription: PushSubscription, posted: boolean}>}
 */
function resubscribe(oldSubscription, newSubscription) {
  var config;
  var key;
  return readConfig().then(function (stored) {
    config = stored || {};
    return fetchCurrentKey(config.baseUrl);
  }).then(function (current) {
    key = current;
    return subscriptionWithKey(newSubscription, key);
  }).then(function (subscription) {
    if (!config.token) {
      // The page's migrate() registers it on its next load, with a token.
      console.info('evpush: no stored token, new subscription not registered with the server');
      return { subscription: subscription, posted: false };
    }
    var body = {
      subscription: subscription.toJSON(),
      user_type: config.userType || 'client',
      application_server_key: bytesToBase64Url(subscribedKey(subscription) || key),
    };
    if (config.locale) body.locale = config.locale;
    var old = [oldSubscription && oldSubscription.endpoint, config.endpoint].filter(function (endpoint, i, all) {
      return endpoint && endpoint !== subscription.endpoint && all.indexOf(endpoint) === i;
    });
    return postJSON(apiUrl(config.baseUrl, '/subscribe'), config.token, body)
      .then(function () { return writeConfig(Object.assign({}, config, { endpoint: subscription.endpoint })); })
      .then(function () { return retire(old, config); })
      .then(function () { return { subscription: subscription, posted: true }; });
  });
}

self.addEventListener('pushsubscriptionchange', function (event) {
  event.waitUntil(
    resubscribe(event.oldSubscription || null, event.newSubscription || null).catch(function (err) {
      // Nobody to report to: log it. The server keeps the old endpoint (until
      // the push service answers 404/410 for it), and the page's migrate()
      // registers the browser's subscription on its next load.
      console.warn('evpush: pushsubscriptionchange failed:', err);
    }));
});

// ---------------------------------------------------------------------------
// message

// Acknowledges on a MessageChannel port when the sender gave one.
function ack(event) {
  if (event.ports && event.ports[0]) event.ports[0].postMessage({ ok: true });
}

function reply(event, message) {
  if (event.ports && event.ports[0]) event.ports[0].postMessage(message);
  else if (event.source && event.source.postMessage) event.source.postMessage(message);
}

/**
 * Test hook: {type: 'evpush:test-click', tag, action?} runs
 * handleNotificationClick on the shown notification with that tag, as a click
 * on the action button `action` (omitted or '': the body), and replies
 * {ok, action, url, via, error?}.
 *
 * Why it exists: no browser API clicks a notification, and headless Chrome
 * shows none to click, so an end-to-end test could never reach the click
 * handler. The hook runs the very same handler. Outside a real click the
 * browser refuses focus()/openWindow() (Chrome allows them only during
 * notificationclick): the reply then carries `error`, while `url` and `via`
 * still say what the handler chose. Harmless in production: only pages of
 * this origin can message the worker, and a shown notification just gets closed.
 */
function testClick(event, tag, action) {
  action = action ? String(action) : '';
  return self.registration.getNotifications({ tag: tag }).then(function (list) {
    if (!list || list.length === 0) {
      reply(event, { ok: false, action: action, error: 'no notification with tag ' + JSON.stringify(tag) });
      return;
    }
    return handleNotificationClick(list[0], action).then(function (result) {
      reply(event, Object.assign({ ok: true, action: action }, result));
    });
  }).catch(function (err) {
    reply(event, { ok: false, action: action, error: String(err) });
  });
}

self.addEventListener('message', function (event) {
  var msg = event.data || {};
  if (msg.type === 'evpush:config') {
    event.waitUntil(writeConfig({
      token: msg.token || null,
      userType: msg.userType || 'client',
      locale: msg.locale || null,
      baseUrl: msg.baseUrl || '',
      endpoint: msg.endpoint || null,
    }).then(function () { ack(event); }));
  } else if (msg.type === 'evpush:config-clear') {
    event.waitUntil(clearConfig().then(function () { ack(event); }));
  } else if (msg.type === 'evpush:test-click') {
    event.waitUntil(testClick(event, msg.tag, msg.action));
  }
});
