/* Service worker: shows Web Push notifications (payload: src/protocol/push.ts PushPayload)
   and opens the conversation when one is clicked. Plain JS: it is served as is. */
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
