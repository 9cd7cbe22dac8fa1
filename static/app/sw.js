// The officers' app's service worker (scope /app/): keeps the app shell on the phone so the app opens without
// signal. The shell is answered from the phone's copy at once and refreshed in the background when there is
// signal (stale-while-revalidate): a new version of a file is used from the start after it was fetched. The
// API (/api/...) is never touched here: the page sends it itself, and the queue lives in IndexedDB.
// Bump VERSION when the list of files changes; a changed sw.js is itself what makes the browser update it.

const VERSION = "2";
const CACHE = `transito-app-${VERSION}`;
const SHELL = [
  "./",
  "app.css",
  "manifest.webmanifest",
  "js/main.js",
  "js/api.js",
  "js/capture.js",
  "js/catalogue.js",
  "js/dom.js",
  "js/enrolment.js",
  "js/form.js",
  "js/history.js",
  "js/ids.js",
  "js/install.js",
  "js/location.js",
  "js/outbox.js",
  "js/photo-list.js",
  "js/photos.js",
  "js/plate.js",
  "js/queue.js",
  "js/rejection.js",
  "js/session.js",
  "js/shell.js",
  "js/state.js",
  "js/store.js",
  "js/time.js",
  "icons/icon.svg",
  "icons/icon-192.png",
  "icons/icon-512.png",
  "icons/icon-maskable-512.png",
];
const SHELL_URLS = new Set(SHELL.map((path) => new URL(path, self.registration.scope).href));
const INDEX = new URL("./", self.registration.scope).href;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL.map((path) => new Request(path, { cache: "no-cache" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("transito-app-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // Every page of the app is its one page (the enrolment link's token is in the fragment, never in the request).
  const key = request.mode === "navigate" && url.pathname === new URL(INDEX).pathname ? INDEX : url.origin + url.pathname;
  if (!SHELL_URLS.has(key)) return; // the API, and anything else, goes to the network as if we were not here
  event.respondWith(fromShell(event, key));
});

async function fromShell(event, key) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(key);
  const fresh = fetch(key, { cache: "no-cache", credentials: "omit" }).then(async (response) => {
    if (response.ok) await cache.put(key, response.clone());
    return response;
  });
  if (kept) {
    event.waitUntil(fresh.catch(() => undefined)); // no signal: the copy stands
    return kept;
  }
  return fresh;
}
