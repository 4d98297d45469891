import { useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../api';
import { useSessionActions } from '../session';

/**
 * Shown in place of any page while the server asks for an account and this browser has none. The
 * address is left alone, so signing in shows the page that was asked for.
 */
export function SignInPage() {
  const { signIn } = useSessionActions();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const passwordInput = useRef<HTMLInputElement>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      await signIn(username.trim(), password);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? 'Wrong username or password.' : e instanceof Error ? e.message : String(e));
      setPassword('');
      passwordInput.current?.focus();
    } finally {
      setPending(false);
    }
  };

  return (
    <div className="signin">
      <form className="signin-card panel" onSubmit={submit} aria-labelledby="signin-title" data-testid="signin-form">
        <h1 id="signin-title">Sign in to Threadline</h1>
        <p className="muted">Use the account an admin of this server made for you.</p>
        <label className="field">
          <span>Username</span>
          <input name="username" autoComplete="username" autoFocus required spellCheck={false} value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label className="field">
          <span>Password</span>
          <input ref={passwordInput} name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && (
          <div className="error-note" role="alert" data-testid="signin-error">
            {error}
          </div>
        )}
        <button type="submit" className="primary" disabled={pending}>
          {pending ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="muted small">SDKs and exporters use API tokens instead: create them on the Tokens page once signed in.</p>
      </form>
    </div>
  );
}
