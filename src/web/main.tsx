/** Entry point: mounts the app (see App.tsx) and registers the service worker (public/sw.js), which keeps the app shell for offline use. */
import { render } from 'preact';
import { App } from './components/App.js';
import './styles.css';

render(<App />, document.getElementById('app')!);

// The same worker serves Web Push (lib/push.ts registers it again, which is a no-op).
if ('serviceWorker' in navigator) void navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => undefined);
