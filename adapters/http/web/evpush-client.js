// evpush-client.js: the browser side of EvPower Web Push, as one plain ES module.
//
//   import { subscribe, migrate, sendTest } from '/static/evpush-client.js';
//   migrate({ token: jwt });   // on every page load: follows the service's VAPID key rotation
//   const { subscriptionId } = await subscribe({ token: jwt, userType: 'client' }); // on a click
//   const list = await devices();           // the user's devices, this one `current`
//   await setPreferences({ kinds: { new_session: false } }, { token: jwt });
//
// It is the flow of the API guide (section 5, "Интеграция с PWA") made reusable:
// support checks, service worker registration, permission, VAPID key, push
// subscription, POST /subscribe, with the errors of section 6 as classes.
//
// VAPID key rotation: the service signs for each subscription with the key it
// was made with, and names one key `current`. migrate() (called by status()
// and subscribe() too) moves a subscription made with an older key to the
// current one by itself, without a prompt: see "Moving to the current key".
//
// No build step and no dependencies. Browser globals (navigator, window,
// Notification, fetch, localStorage) are read lazily through globalThis, so the
// module also imports cleanly in Node, where the tests replace them with fakes.

const API = '/api/v1/notifications';

/**
 * localStorage key holding `{token, userType, locale, baseUrl, endpoint,
 * subscriptionId}` of the last registration: what the server knows this
 * browser as (endpoint, and the id devices() lists it under) and under which
 * settings, so that a move to a new key re-registers it the same way.
 */
export const STORAGE_KEY = 'evpush';

// ---------------------------------------------------------------------------
// Errors

/**
 * Base class of every error this module throws. HTTP errors keep the seed's
 * message format, `HTTP <status>: <detail>`, so code that tests
 * `error.message.includes('401')` keeps working.
 */
export class EvpushError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, detail?: string, cause?: unknown}} [info]
   *   status: the HTTP status (0 when no HTTP answer is involved);
   *   detail: the server's `detail || message`, or the message itself.
   */
  constructor(message, { status = 0, detail, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'EvpushError';
    /** @type {number} HTTP status, 0 when the error did not come from the server. */
    this.status = status;
    /** @type {string} The server's explanation (or the message). */
    this.detail = detail ?? message;
  }
}

/** The browser lacks Service Workers, the Push API or Notifications. */
export class UnsupportedError extends EvpushError {
  /**
   * @param {string} message
   * @param {string[]} missing names of the missing features: 'serviceWorker', 'PushManager', 'Notification'
   */
  constructor(message, missing = []) {
    super(message);
    this.name = 'UnsupportedError';
    /** @type {string[]} */
    this.missing = missing;
  }
}

/** The user did not grant the notification permission ('denied' or dismissed). */
export class PermissionDeniedError extends EvpushError {
  /** @param {string} permission what `Notification.requestPermission()` answered */
  constructor(permission) {
    super('Permission not granted for notifications'); // the seed's wording
    this.name = 'PermissionDeniedError';
    /** @type {string} */
    this.permission = permission;
  }
}

/** HTTP 401 (or no token at all): the user must sign in again. */
export class AuthError extends EvpushError {
  /** @param {string} message @param {{status?: number, detail?: string}} [info] */
  constructor(message, info) {
    super(message, info);
    this.name = 'AuthError';
  }
}

/** HTTP 422: the server refused the data; `.errors` lists `[{field, message}]`. */
export class ValidationError extends EvpushError {
  /**
   * @param {string} message
   * @param {{status?: number, detail?: string, errors?: Array<{field: string, message: string}>}} [info]
   */
  constructor(message, info = {}) {
    super(message, info);
    this.name = 'ValidationError';
    /** @type {Array<{field: string, message: string}>} */
    this.errors = info.errors ?? [];
  }
}

/** HTTP 429: called too often; retry after `.retryAfter` seconds (null when not said). */
export class RateLimitError extends EvpushError {
  /** @param {string} message @param {{status?: number, detail?: string, retryAfter?: number|null}} [info] */
  constructor(message, info = {}) {
    super(message, info);
    this.name = 'RateLimitError';
    /** @type {number|null} */
    this.retryAfter = info.retryAfter ?? null;
  }
}

/**
 * Any other non-2xx answer (403, 409, 413, 500, 503, …). `.retryAfter` is
 * set when the server sent `Retry-After` (503 does).
 */
export class ServerError extends EvpushError {
  /** @param {string} message @param {{status?: number, detail?: string, retryAfter?: number|null}} [info] */
  constructor(message, info = {}) {
    super(message, info);
    this.name = 'ServerError';
    /** @type {number|null} */
    this.retryAfter = info.retryAfter ?? null;
  }
}

/**
 * HTTP 404: what the call names does not exist for this user (an unknown
 * device, or another user's: the server answers both alike). A ServerError,
 * so code written before it was added, testing `status === 404`, keeps working.
 */
export class NotFoundError extends ServerError {
  /** @param {string} message @param {{status?: number, detail?: string, retryAfter?: number|null}} [info] */
  constructor(message, info) {
    super(message, info);
    this.name = 'NotFoundError';
  }
}

// ---------------------------------------------------------------------------
// Helpers

/**
 * Decodes a base64url string (the VAPID public key) into bytes, as
 * `pushManager.subscribe({applicationServerKey})` wants them. Accepts the
 * standard alphabet too, with or without `=` padding.
 * @param {string} base64String
 * @returns {Uint8Array}
 */
export function urlBase64ToUint8Array(base64String) {
  const clean = String(base64String).trim().replace(/=+$/, '');
  const padding = '='.repeat((4 - (clean.length % 4)) % 4);
  const base64 = (clean + padding).replace(/-/g, '+').replace(/_/g, '/');
  let raw;
  try {
    raw = globalThis.atob(base64);
  } catch (cause) {
    throw new EvpushError('Invalid base64 string', { cause });
  }
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** The window object, or the global scope when `window` is not defined. */
function win() {
  return globalThis.window ?? globalThis;
}

/** The names of the features this browser lacks (empty when push works). */
function missingFeatures() {
  const nav = globalThis.navigator;
  const w = win();
  const missing = [];
  if (!nav || !('serviceWorker' in nav)) missing.push('serviceWorker');
  if (!w || !('PushManager' in w)) missing.push('PushManager');
  if (!w || !('Notification' in w)) missing.push('Notification');
  return missing;
}

const MISSING_TEXT = {
  serviceWorker: 'Service Workers not supported', // the seed's messages
  PushManager: 'Push API not supported',
  Notification: 'Notifications not supported',
};

/**
 * Tells whether this browser can receive Web Push: Service Workers, the Push
 * API and Notifications are all present. (They are absent on plain http
 * outside localhost, and on iOS until the page is added to the Home Screen.)
 * @returns {boolean}
 */
export function isSupported() {
  return missingFeatures().length === 0;
}

function assertSupported() {
  const missing = missingFeatures();
  if (missing.length > 0) {
    throw new UnsupportedError(missing.map((m) => MISSING_TEXT[m]).join('; '), missing);
  }
}

function apiUrl(baseUrl, path) {
  return `${String(baseUrl ?? '').replace(/\/+$/, '')}${API}${path}`;
}

function requireToken(token) {
  if (!token) throw new AuthError('Not signed in: no token', { detail: 'No token' });
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date), or null. */
function parseRetryAfter(value) {
  if (value == null || value === '') return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The body as an object; `{}` when it is empty or not JSON (e.g. a proxy's HTML page). */
async function readBody(response) {
  let text;
  try {
    text = await response.text();
  } catch {
    return {};
  }
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' ? value : {};
  } catch {
    return {};
  }
}

function errorFor(response, data) {
  const status = response.status;
  // Section 6 of the guide reads `errorData.detail || errorData.message`.
  const detail = data.detail || data.message || response.statusText || 'Request failed';
  const message = `HTTP ${status}: ${detail}`;
  const retryAfter = parseRetryAfter(response.headers?.get?.('Retry-After'));
  switch (status) {
    case 401:
      return new AuthError(message, { status, detail });
    case 404:
      return new NotFoundError(message, { status, detail, retryAfter });
    case 422:
      return new ValidationError(message, {
        status, detail, errors: Array.isArray(data.errors) ? data.errors : [],
      });
    case 429:
      return new RateLimitError(message, { status, detail, retryAfter });
    default:
      return new ServerError(message, { status, detail, retryAfter });
  }
}

/**
 * Calls a JSON endpoint of the EvPower API and returns the parsed body; every
 * non-2xx answer becomes the matching error class (401 → AuthError, 404 →
 * NotFoundError, 422 → ValidationError, 429 → RateLimitError, others →
 * ServerError), a network
 * failure an EvpushError. The demo page uses it for the charging endpoints.
 * @param {string} url
 * @param {{method?: string, token?: string, body?: unknown}} [options]
 *   body is sent as JSON when defined; token as `Authorization: Bearer`.
 * @returns {Promise<any>}
 */
export async function apiFetch(url, { method = 'GET', token, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await globalThis.fetch(url, init);
  } catch (cause) {
    throw new EvpushError(`Network error: ${cause?.message ?? cause}`, { cause });
  }
  const data = await readBody(response);
  if (!response.ok) throw errorFor(response, data);
  return data;
}

/** Bytes of an applicationServerKey in any of the shapes browsers hand back. */
function keyBytes(key) {
  if (key == null) return null;
  if (typeof key === 'string') return urlBase64ToUint8Array(key);
  if (ArrayBuffer.isView(key)) return new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
  if (Object.prototype.toString.call(key) === '[object ArrayBuffer]') return new Uint8Array(key);
  return null;
}

function sameBytes(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The key a push subscription was made with, as bytes (null when the browser does not say). */
function subscribedKey(subscription) {
  return keyBytes(subscription?.options?.applicationServerKey);
}

/** base64url without padding: how the API spells a key (`application_server_key`). */
function bytesToBase64Url(bytes) {
  let raw = '';
  for (const byte of bytes) raw += String.fromCharCode(byte);
  return globalThis.btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Rejects with an EvpushError when the promise takes longer than ms. Used
 * around pushManager.subscribe(), which never settles when the browser cannot
 * reach its push service (offline, or a build without the vendor's keys).
 */
function withTimeout(promise, ms, message) {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new EvpushError(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** requestPermission, in both its promise form and old Safari's callback form. */
function requestPermission() {
  const N = win().Notification;
  return new Promise((resolve) => {
    const result = N.requestPermission(resolve);
    if (result && typeof result.then === 'function') result.then(resolve, () => resolve('default'));
  });
}

/** The registration controlling this page's scope, without hanging when there is none. */
async function currentRegistration() {
  const sw = globalThis.navigator.serviceWorker;
  // `ready` never settles when no worker is registered; getRegistration() answers undefined.
  if (typeof sw.getRegistration === 'function') return (await sw.getRegistration()) ?? null;
  return sw.ready;
}

async function currentSubscription() {
  const registration = await currentRegistration();
  return registration ? registration.pushManager.getSubscription() : null;
}

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // some browsers throw on access when storage is blocked
  }
}

/** The settings of the last registration (see STORAGE_KEY); `{}` when none are stored. */
function recall() {
  try {
    const value = JSON.parse(storage()?.getItem(STORAGE_KEY) ?? 'null');
    return value && typeof value === 'object' ? value : {};
  } catch {
    return {}; // blocked storage or a foreign value: as if nothing were stored
  }
}

function remember(config) {
  try {
    storage()?.setItem(STORAGE_KEY, JSON.stringify(config));
  } catch {
    // private mode or quota: the service worker copy is what matters
  }
}

function forget() {
  try {
    storage()?.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}

/**
 * Remembers the settings and the subscription's id here, and hands the
 * settings to the service worker, which has no localStorage and needs them to
 * re-register by itself on `pushsubscriptionchange`.
 */
function keep(worker, settings, subscriptionId) {
  remember({ ...settings, subscriptionId });
  worker?.postMessage({ type: 'evpush:config', ...settings });
}

/** The token and baseUrl given, else the ones remembered from the last registration. */
function withRemembered({ token, baseUrl }, stored = recall()) {
  return { token: token || stored.token, baseUrl: baseUrl ?? stored.baseUrl ?? '' };
}

/**
 * Drops this browser's push subscription (when there is one) and every copy
 * of its settings: here and the service worker's, which holds the token.
 */
async function dropLocally(subscription) {
  await subscription?.unsubscribe();
  forget();
  if (!isSupported()) return;
  const registration = await currentRegistration();
  registration?.active?.postMessage({ type: 'evpush:config-clear' });
}

// Moves of the subscription run one at a time: a page calls migrate() on load
// and status() soon after, and two moves at once would each unsubscribe the
// subscription the other just made.
let moving = Promise.resolve();

function exclusive(task) {
  const run = moving.then(task);
  moving = run.catch(() => {});
  return run;
}

/** The service's current VAPID public key, the one new subscriptions must use, as bytes. */
async function fetchCurrentKey(baseUrl) {
  const keyResponse = await apiFetch(apiUrl(baseUrl, '/vapid-public-key'));
  const publicKey = keyResponse?.data?.public_key;
  if (typeof publicKey !== 'string' || publicKey === '') {
    throw new ServerError('The server sent no VAPID public key', { status: 200 });
  }
  return urlBase64ToUint8Array(publicKey);
}

// ---------------------------------------------------------------------------
// Moving to the current key
//
// The service keeps several VAPID keys: the current one, which
// /vapid-public-key returns, and retiring ones, with which it still signs for
// the subscriptions made with them. A browser holds one push subscription per
// service worker registration, bound to one key, and refuses to subscribe with
// another key while it holds one. So a move is, in this order:
//
//   0. check everything that can be checked first (a subscription, the
//      current key, a token, the remembered user type, the permission): a
//      move that cannot finish must not start;
//   1. remember the endpoint the server holds for this browser, before the
//      browser forgets it;
//   2. unsubscribe in the browser (forced by the one-subscription rule; from
//      here the old endpoint is dead at the push service, but the server's
//      row for it stays);
//   3. subscribe with the current key: no prompt, permission is granted;
//   4. POST the new subscription, with the same user_type and locale as
//      before and its application_server_key;
//   5. only once the server has stored it: remember its endpoint, then remove
//      the old endpoint on the server.
//
// Why this order: whatever fails, the server never ends up with no row for
// this device. If step 3 or 4 fails, the old row stays and the remembered
// endpoint still differs from the browser's, so the next migrate() (next page
// load, status() or subscribe()) registers the browser's subscription and then
// removes the old row. A failed step 5 only leaves a row whose endpoint the
// push service now answers 404/410 to, which makes the server delete it.

/**
 * Makes the registration's push subscription one made with `key`: the
 * existing one when it is, else a new one (the existing one is dropped first,
 * see step 2 above).
 */
async function subscriptionWithKey(registration, key, pushTimeoutMs) {
  const existing = await registration.pushManager.getSubscription();
  if (existing && sameBytes(subscribedKey(existing), key)) return existing;
  if (existing) await existing.unsubscribe();
  const subscribing = registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key })
    .catch((cause) => {
      // A DOMException (AbortError: push service unreachable, NotAllowedError, …): typed like the rest.
      throw new EvpushError(`The browser could not subscribe: ${cause?.message ?? cause}`, { cause });
    });
  return withTimeout(
    subscribing,
    pushTimeoutMs,
    `The browser's push service did not answer within ${Math.round(pushTimeoutMs / 1000)} s: is this device online?`,
  );
}

/**
 * POSTs the subscription to /subscribe under settings `{token, userType,
 * locale, baseUrl}`, naming the key it was made with.
 * @returns {Promise<any>} the server's answer
 */
async function postSubscription(subscription, key, { token, userType, locale, baseUrl }) {
  const body = {
    subscription: subscription.toJSON(),
    user_type: userType,
    application_server_key: bytesToBase64Url(subscribedKey(subscription) ?? key),
  };
  if (locale !== undefined && locale !== null && locale !== '') body.locale = locale;
  const result = await apiFetch(apiUrl(baseUrl, '/subscribe'), { method: 'POST', token, body });
  if (!result.success) throw new EvpushError(result.message || 'Subscription was not registered');
  return result;
}

/**
 * Removes endpoints this browser no longer uses from the server. A failure is
 * logged, not thrown: the new subscription is stored by then, and the server
 * deletes a dead endpoint's row itself on the push service's 404/410.
 */
async function retire(endpoints, { token, baseUrl }) {
  for (const endpoint of new Set(endpoints)) {
    try {
      await apiFetch(apiUrl(baseUrl, '/unsubscribe'), { method: 'POST', token, body: { endpoint } });
    } catch (err) {
      globalThis.console?.warn('evpush: the old endpoint stays on the server until it fails:', err);
    }
  }
}

/**
 * Steps 1–5 above: makes the server hold this browser's subscription made with
 * `key`, registered under `settings`, and none of its older endpoints.
 * @returns {Promise<{result: any, subscription: PushSubscription}>}
 */
async function moveTo(registration, key, settings, { pushTimeoutMs, worker }) {
  const stored = recall();
  const existing = await registration.pushManager.getSubscription();
  // What the server holds: remembered since the last registration, else (an
  // older version of this script remembered no endpoint) the subscription's own.
  const held = stored.endpoint ?? existing?.endpoint;
  if (held && held !== stored.endpoint) remember({ ...stored, endpoint: held });
  const subscription = await subscriptionWithKey(registration, key, pushTimeoutMs);
  const result = await postSubscription(subscription, key, settings);
  keep(worker, { ...settings, endpoint: subscription.endpoint }, result.subscription_id);
  await retire([held, existing?.endpoint].filter((e) => e && e !== subscription.endpoint), settings);
  return { result, subscription };
}

/**
 * What a migration did:
 *   'migrated'         the subscription now uses the current key and is registered; the old endpoint
 *                      was removed on the server (or, if that failed, is left for the server to drop on 404/410);
 *   'current'          nothing to do: made with the current key and registered;
 *   'no-subscription'  this browser is not subscribed (or the browser lacks push: 'unsupported');
 *   'no-token'         a move is due but there is no token to post it with: nothing done;
 *   'no-settings'      a move is due but the user type it was registered with is unknown: nothing done;
 *   'no-permission'    a move is due but notifications are not granted (subscribing would prompt): nothing done;
 *   'failed'           only in status().migration, with `error`: what migrate() threw.
 * @typedef {{state: string, subscriptionId?: string, error?: EvpushError}} Migration
 */

async function migrateNow({ token, baseUrl, pushTimeoutMs = 30000 } = {}) {
  if (!isSupported()) return { state: 'unsupported' };
  const registration = await currentRegistration();
  if (!registration) return { state: 'no-subscription' };
  const stored = recall();
  const existing = await registration.pushManager.getSubscription();
  // No subscription but a remembered endpoint: a move stopped between its
  // steps 2 and 4 (or the push service dropped it); finish it.
  if (!existing && !stored.endpoint) return { state: 'no-subscription' };

  const settings = { ...withRemembered({ token, baseUrl }, stored), userType: stored.userType, locale: stored.locale };
  const key = await fetchCurrentKey(settings.baseUrl);
  const registered = existing && (stored.endpoint ?? existing.endpoint) === existing.endpoint;
  if (registered && sameBytes(subscribedKey(existing), key)) {
    // Settings from a version that remembered no endpoint: remember it now, so
    // that a subscription the worker replaces but cannot post is noticed here.
    if (!stored.endpoint && stored.userType) remember({ ...stored, endpoint: existing.endpoint });
    return { state: 'current' };
  }
  if (!settings.token) return { state: 'no-token' };
  if (!settings.userType) return { state: 'no-settings' };
  if (win().Notification.permission !== 'granted') return { state: 'no-permission' };

  const { result } = await moveTo(registration, key, settings, { pushTimeoutMs, worker: registration.active });
  return { state: 'migrated', subscriptionId: result.subscription_id };
}

// ---------------------------------------------------------------------------
// Public flow

/**
 * Subscribes this browser to EvPower push notifications: the flow of the
 * guide's section 5. Checks support, registers the service worker, waits for
 * it, asks for the permission, fetches the VAPID key, reuses a push
 * subscription made with the same key (or replaces one made with another
 * key), and POSTs `{subscription, user_type, locale, application_server_key}`
 * to `/subscribe`. Once the server has stored it, endpoints this browser had
 * before are removed on the server, as migrate() does.
 *
 * Call it from a click handler: browsers only show the permission prompt for a
 * user gesture.
 *
 * The settings are kept in localStorage (key `evpush`) and handed to the
 * service worker (`evpush:config` message), so that migrate() and the worker
 * (on `pushsubscriptionchange`) can register a new subscription by themselves,
 * the same way.
 *
 * @param {object} options
 * @param {string} options.token the user's JWT (Authorization: Bearer)
 * @param {'client'|'owner'} [options.userType='client'] driver or station owner
 * @param {string} [options.locale] language of the notifications; defaults to navigator.language, omitted when neither is known
 * @param {string} [options.baseUrl=''] origin of the evpush API when it is not this page's
 * @param {string} [options.serviceWorkerUrl='/service-worker.js']
 * @param {number} [options.pushTimeoutMs=30000] how long to wait for the browser's push
 *   service to hand out a subscription (it waits forever when unreachable); 0: no limit
 * @returns {Promise<{subscriptionId: string, subscription: PushSubscription}>}
 * @throws {UnsupportedError|PermissionDeniedError|AuthError|ValidationError|RateLimitError|ServerError|EvpushError}
 */
export async function subscribe({
  token, userType = 'client', locale, baseUrl = '', serviceWorkerUrl = '/service-worker.js',
  pushTimeoutMs = 30000,
} = {}) {
  requireToken(token); // before any prompt: a permission granted for nothing helps no one
  assertSupported();
  const nav = globalThis.navigator;
  if (locale === undefined) locale = nav.language || undefined;

  // 1–3. register the worker and wait until it is active
  const registration = await nav.serviceWorker.register(serviceWorkerUrl);
  const ready = await nav.serviceWorker.ready;

  // 4. permission
  const permission = await requestPermission();
  if (permission !== 'granted') throw new PermissionDeniedError(permission);

  // 5. VAPID key
  const key = await fetchCurrentKey(baseUrl);

  // 6–7. a subscription made with that key, registered with the server
  const settings = { token, userType, locale: locale || undefined, baseUrl };
  const { result, subscription } = await exclusive(() => moveTo(registration, key, settings, {
    pushTimeoutMs, worker: registration.active ?? ready?.active,
  }));
  return { subscriptionId: result.subscription_id, subscription };
}

/**
 * Moves this browser's push subscription to the service's current VAPID key
 * when it was made with another one (the service rotated its keys), with no
 * prompt: unsubscribes it, subscribes with the current key, registers the new
 * subscription with the user type and locale of the last subscribe(), and only
 * then removes the old endpoint on the server (see "Moving to the current
 * key" in this file for the order and why). Also finishes a move an earlier
 * call could not.
 *
 * Call it on every page load; status() and subscribe() call it too. It does
 * nothing when the subscription is current, when there is none, and when a
 * move is due but cannot be done now (no token, no remembered settings, no
 * permission): `state` says which.
 *
 * @param {object} [options]
 * @param {string} [options.token] the signed-in user's JWT; default: the one remembered from the last subscribe()
 * @param {string} [options.baseUrl] default: the one remembered from the last subscribe()
 * @param {number} [options.pushTimeoutMs=30000] as for subscribe()
 * @returns {Promise<Migration>}
 * @throws {AuthError|ValidationError|RateLimitError|ServerError|EvpushError} when
 *   the move started and could not finish: the server still holds the old
 *   endpoint, and the next call tries again
 */
export function migrate(options = {}) {
  return exclusive(() => migrateNow(options));
}

/**
 * Unsubscribes this browser: POSTs `{endpoint}` to `/unsubscribe`, then drops
 * the push subscription locally (only once the server has answered, so a
 * failed call can be retried). Also forgets the stored settings.
 * @param {{token: string, baseUrl?: string}} options
 * @returns {Promise<boolean>} the server's `success`: false when it did not know the
 *   endpoint, or when this browser had no subscription at all (nothing is sent then)
 * @throws {AuthError|ServerError|EvpushError}
 */
export async function unsubscribe({ token, baseUrl = '' } = {}) {
  if (!isSupported()) return false;
  const subscription = await currentSubscription();
  if (!subscription) return false;
  requireToken(token);
  const result = await apiFetch(apiUrl(baseUrl, '/unsubscribe'), {
    method: 'POST', token, body: { endpoint: subscription.endpoint },
  });
  await dropLocally(subscription);
  return result.success === true;
}

/**
 * Asks the server to send a test notification to every device of the user now.
 * @param {{token: string, baseUrl?: string}} options
 * @returns {Promise<{success: boolean, sent_to: number, failed?: number, message: string}>}
 *   the server's report (success false with sent_to 0 when no device is subscribed)
 * @throws {AuthError|RateLimitError|ServerError|EvpushError}
 */
export async function sendTest({ token, baseUrl = '' } = {}) {
  requireToken(token);
  return apiFetch(apiUrl(baseUrl, '/test'), { method: 'POST', token });
}

// ---------------------------------------------------------------------------
// Devices and preferences
//
// What the user gets, on which devices: the server's lists under the user's
// JWT. The token and baseUrl default to the ones remembered from the last
// subscribe() or migrate(); with neither given nor remembered, AuthError.

/** Calls the API with the given or remembered token; answers the body's `data`. */
async function accountData(path, options, { method = 'GET', body } = {}) {
  const { token, baseUrl } = withRemembered(options);
  requireToken(token);
  const result = await apiFetch(apiUrl(baseUrl, path), { method, token, body });
  return result.data;
}

/**
 * A device the user receives notifications on: the server's fields, and
 * `current`, true for this browser's own subscription.
 * @typedef {{subscription_id: string, user_type: string, locale: string, device: string,
 *   push_service: string, created_at: string, last_success_at: string|null, failure_count: number,
 *   current: boolean}} Device
 */

/**
 * Lists the signed-in user's devices (`GET /subscriptions`): only the user's
 * own, never their endpoints or keys. This browser's is the one whose id the
 * last subscribe() or migrate() remembered; none is current when this browser
 * is not subscribed (or was subscribed by an older version of this script).
 * @param {{token?: string, baseUrl?: string}} [options]
 * @returns {Promise<Device[]>}
 * @throws {AuthError|RateLimitError|ServerError|EvpushError}
 */
export async function devices(options = {}) {
  const list = await accountData('/subscriptions', options);
  const own = recall().subscriptionId;
  return (Array.isArray(list) ? list : []).map((d) => ({ ...d, current: own != null && d.subscription_id === own }));
}

/**
 * Removes one of the user's devices (`DELETE /subscriptions/{id}`): it gets no
 * more notifications. When it is this browser's own, the browser's push
 * subscription is dropped too and the settings forgotten, as unsubscribe()
 * does (only once the server has answered, so a failed call can be retried).
 * @param {string} id the device's `subscription_id`
 * @param {{token?: string, baseUrl?: string}} [options]
 * @returns {Promise<{current: boolean}>} current: it was this browser's own device
 * @throws {NotFoundError} unknown id, or another user's
 * @throws {AuthError|RateLimitError|ServerError|EvpushError}
 */
export async function removeDevice(id, options = {}) {
  await accountData(`/subscriptions/${encodeURIComponent(id)}`, options, { method: 'DELETE' });
  const current = id === recall().subscriptionId;
  if (current) await dropLocally(isSupported() ? await currentSubscription() : null);
  return { current };
}

/**
 * The user's notification preferences (`GET /preferences`): `kinds` maps every
 * kind of the role to on/off (all on by default); `categories` holds only the
 * categories the user switched (any other category is on).
 * @param {{token?: string, baseUrl?: string, userType?: 'client'|'owner'}} [options]
 *   userType: default the token's role
 * @returns {Promise<{user_type: string, kinds: Object<string, boolean>, categories: Object<string, boolean>}>}
 * @throws {AuthError|RateLimitError|ServerError|EvpushError} ServerError 403: userType is not the token's role
 */
export async function preferences({ userType, ...options } = {}) {
  const query = userType ? `?user_type=${encodeURIComponent(userType)}` : '';
  return accountData(`/preferences${query}`, options);
}

/**
 * Switches kinds and categories on or off (`PUT /preferences`); only those
 * named change.
 * @param {{kinds?: Object<string, boolean>, categories?: Object<string, boolean>, userType?: 'client'|'owner'}} change
 *   userType: default the token's role
 * @param {{token?: string, baseUrl?: string}} [options]
 * @returns {Promise<{user_type: string, kinds: Object<string, boolean>, categories: Object<string, boolean>}>}
 *   all the preferences after the change, as preferences() answers them
 * @throws {ValidationError} a kind the role does not have (`errors` names it, e.g. `kinds.foo`)
 * @throws {AuthError|RateLimitError|ServerError|EvpushError} ServerError 403: userType is not the token's role
 */
export async function setPreferences({ kinds, categories, userType } = {}, options = {}) {
  const body = { user_type: userType, kinds, categories }; // JSON leaves out what is undefined
  return accountData('/preferences', options, { method: 'PUT', body });
}

/**
 * Where this browser stands, for display. Runs migrate() first (with the
 * options given), so the answer describes the subscription after any move;
 * a failed move is reported in `migration`, never thrown.
 * @param {{token?: string, baseUrl?: string}} [options] passed to migrate()
 * @returns {Promise<{supported: boolean, permission: string, subscribed: boolean, endpoint: string|null, migration: Migration}>}
 *   permission: 'default' | 'granted' | 'denied', or 'unsupported';
 *   endpoint: the push service's origin followed by '…' (the full endpoint is a secret-ish capability URL);
 *   migration: what migrate() did, `{state: 'failed', error}` when it threw
 */
export async function status(options = {}) {
  const supported = isSupported();
  const N = win()?.Notification;
  const permission = N ? N.permission : 'unsupported';
  if (!supported) {
    return { supported, permission, subscribed: false, endpoint: null, migration: { state: 'unsupported' } };
  }
  const migration = await migrate(options).catch((error) => ({ state: 'failed', error }));
  const subscription = await currentSubscription();
  let endpoint = null;
  if (subscription) {
    try {
      endpoint = `${new URL(subscription.endpoint).origin}…`;
    } catch {
      endpoint = '…';
    }
  }
  return { supported, permission, subscribed: Boolean(subscription), endpoint, migration };
}
