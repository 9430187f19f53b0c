/* Service worker: keeps the app shell so the app opens offline, shows Web Push
   notifications (payload: src/protocol/push.ts PushPayload) and opens the conversation
   when one is clicked. Plain JS: it is served as is.

   The shell is the page and the built assets it names. Pages are read from the network
   first (a new deploy shows at once) and from the cache when there is none; assets have
   content hashes in their names, so a cached one is always right. The API (/v1/) is never
   cached here: the app keeps what it needs offline itself. */
const SHELL = 'edge-chat-shell-v1';

/** The page and the assets it names (script and style links under /assets/). */
async function cacheShell() {
  const cache = await caches.open(SHELL);
  const response = await fetch('/', { cache: 'no-cache' });
  if (!response.ok) return;
  const html = await response.clone().text();
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  await cache.put('/', response);
  await cache.addAll(assets);
}

self.addEventListener('install', (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key.startsWith('edge-chat-shell-') && key !== SHELL).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/v1/')) return;
  if (request.mode === 'navigate') {
    // Network first; offline, the cached page (the app routes by hash, so one page serves all).
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) void caches.open(SHELL).then((cache) => cache.put('/', response.clone()));
          return response;
        })
        .catch(() => caches.match('/').then((cached) => cached || Response.error())),
    );
    return;
  }
  if (url.pathname.startsWith('/assets/')) {
    event.respondWith(
      caches.match(request).then(
        (cached) =>
          cached ||
          fetch(request).then((response) => {
            if (response.ok) void caches.open(SHELL).then((cache) => cache.put(request, response.clone()));
            return response;
          }),
      ),
    );
  }
});
self.addEventListener('push', (event) => {
  let data = { title: 'Edge Chat', body: 'New message', tag: 'edge-chat' };
  try {
    data = { ...data, ...event.data.json() };
  } catch {
    // Not JSON: keep the generic text.
  }
  event.waitUntil(
    self.registration.showNotification(data.title, { body: data.body, tag: data.tag, data: { conversationId: data.conversationId } }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const id = event.notification.data && event.notification.data.conversationId;
  const url = id ? `/#c=${encodeURIComponent(id)}` : '/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      for (const w of windows) {
        if ('focus' in w) {
          w.navigate(url);
          return w.focus();
        }
      }
      return self.clients.openWindow(url);
    }),
  );
});
