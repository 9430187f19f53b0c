/** Opt in to (or out of) push notifications for this browser. */
import { useEffect, useState } from 'preact/hooks';
import { disablePush, enablePush, pushEnabled, pushSupported } from '../lib/push.js';
import { errorText } from '../lib/errors.js';

export function PushToggle() {
  const [on, setOn] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void pushEnabled().then(setOn, () => setOn(false));
  }, []);
  if (!pushSupported()) return null;
  const toggle = async () => {
    setError(null);
    try {
      if (on) await disablePush();
      else await enablePush();
      setOn(!on);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <>
      <button type="button" class="ghost" aria-pressed={on} onClick={() => void toggle()} title={error ?? undefined}>
        {on ? 'Notifications on' : 'Notify me'}
      </button>
      {error && (
        <span class="sr-only" role="alert">
          {error}
        </span>
      )}
    </>
  );
}
