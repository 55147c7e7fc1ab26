// The dashboard's shell: sign-in, the navigation, the live-connection indicator, and the page for the route.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, currentSession, setSession, signIn, signOut, type Session } from './api.js';
import { onStatus, startEvents, stopEvents } from './events.js';
import { FleetPage } from './pages/fleet.js';
import { HostPage } from './pages/host.js';
import { JobPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';
import { OverviewPage } from './pages/overview.js';
import { useRoute } from './router.js';
import { SessionContext } from './session.js';
import './styles.css';

function SignIn({ onDone }: { onDone: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      onDone(await signIn(token.trim()));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <main id="main" class="signin">
      <h1>httpagent</h1>
      <p>Sign in with the platform token (everything) or the viewer token (read only). The token is exchanged for a session cookie and is not kept by this page.</p>
      <form onSubmit={submit}>
        <label for="token">Token</label>
        <input id="token" type="password" autoComplete="current-password" value={token} onInput={(e) => setToken(e.currentTarget.value)} required aria-describedby={error ? 'signin-error' : undefined} />
        <button type="submit">Sign in</button>
        {error && (
          <p id="signin-error" role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const [live, setLive] = useState(false);
  useEffect(() => onStatus(setLive), []);
  const nav = (href: string, label: string, active: boolean) => (
    <a href={href} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );
  let page;
  if (route.page === 'fleet') page = <FleetPage />;
  else if (route.page === 'host') page = <HostPage id={route.id!} />;
  else if (route.page === 'jobs') page = <JobsPage query={route.query} />;
  else if (route.page === 'job') page = <JobPage id={route.id!} />;
  else page = <OverviewPage />;
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">httpagent</span>
        <nav aria-label="Pages">
          {nav('#/', 'Overview', route.page === 'overview')}
          {nav('#/fleet', 'Fleet', route.page === 'fleet' || route.page === 'host')}
          {nav('#/jobs', 'Jobs', route.page === 'jobs' || route.page === 'job')}
        </nav>
        <span class={`live ${live ? 'up' : 'down'}`} role="status" data-testid="live">
          {live ? 'live' : 'reconnecting…'}
        </span>
        <span class="role" data-testid="role">
          {session.role === 'admin' ? 'platform' : 'viewer (read only)'}
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      {page}
    </SessionContext.Provider>
  );
}

function App() {
  const [session, setS] = useState<Session | undefined | null>(null);
  const use = (s: Session | undefined) => {
    setSession(s, () => use(undefined));
    setS(s);
    if (s) startEvents();
    else stopEvents();
  };
  useEffect(() => {
    currentSession().then(use, () => use(undefined));
  }, []);
  if (session === null) return <p class="page">Loading…</p>;
  if (!session) return <SignIn onDone={use} />;
  return (
    <Shell
      session={session}
      onSignOut={() => {
        void signOut().finally(() => use(undefined));
      }}
    />
  );
}

render(<App />, document.getElementById('app')!);
