/** Register or sign in, naming this browser as a device of the account. */
import { useState } from 'preact/hooks';
import { client, defaultDeviceName, rememberDeviceName } from '../lib/session.js';
import { ErrorNote } from './Form.js';
import { errorText } from '../lib/errors.js';

export function AuthScreen() {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const field = (name: string) => String(data.get(name) ?? '').trim();
    const deviceName = field('deviceName') || defaultDeviceName();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'register') {
        await client.register({ handle: field('handle').toLowerCase(), displayName: field('displayName'), password: String(data.get('password') ?? ''), deviceName });
      } else {
        await client.login({ handle: field('handle').toLowerCase(), password: String(data.get('password') ?? ''), deviceName });
      }
      rememberDeviceName(deviceName);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="auth">
      <h1>Edge Chat</h1>
      <div class="tabs" role="tablist" aria-label="Account">
        <button type="button" role="tab" aria-selected={mode === 'login'} class={mode === 'login' ? 'tab active' : 'tab'} onClick={() => setMode('login')}>
          Sign in
        </button>
        <button type="button" role="tab" aria-selected={mode === 'register'} class={mode === 'register' ? 'tab active' : 'tab'} onClick={() => setMode('register')}>
          Create account
        </button>
      </div>
      <form class="card" onSubmit={submit} aria-label={mode === 'login' ? 'Sign in' : 'Create account'}>
        <label>
          Handle
          <input name="handle" required autoComplete="username" autoCapitalize="none" spellcheck={false} pattern="[A-Za-z0-9_]{3,32}" title="3 to 32 letters, digits or _" />
        </label>
        {mode === 'register' && (
          <label>
            Display name
            <input name="displayName" required maxLength={64} autoComplete="name" />
          </label>
        )}
        <label>
          Password
          <input name="password" type="password" required minLength={mode === 'register' ? 8 : 1} autoComplete={mode === 'register' ? 'new-password' : 'current-password'} />
        </label>
        <label>
          Device name
          <input name="deviceName" defaultValue={defaultDeviceName()} maxLength={64} />
          <span class="hint">How this browser appears in your list of devices.</span>
        </label>
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {mode === 'login' ? 'Sign in' : 'Create account'}
        </button>
      </form>
    </main>
  );
}
