// The console: configuration, session, role-filtered navigation and the pages.
import { loadConfig, state } from "./api.js";
import { loginWithAuth0, logout, restoreSession, session, signInWithEthereum } from "./auth.js";
import { ErrorBox, html, Link, render, useAction, useEffect, useState } from "./ui.js";
import { AllianceDetailPage, AlliancesPage } from "./pages/alliances.js";
import { DeploymentDetailPage, DeploymentsPage } from "./pages/deployments.js";
import { NotificationsPage } from "./pages/notifications.js";
import { OperatorPage } from "./pages/operator.js";
import { ProviderPage } from "./pages/provider.js";
import { SettingsPage } from "./pages/settings.js";
import { StakingPage } from "./pages/staking.js";
import { WalletPage } from "./pages/wallet.js";

const USER = "cloud-user", PROVIDER = "cloud-provider", OPERATOR = "cloud-operator";
const PAGES = [
  { path: "/wallet", title: "Wallet", role: USER, view: WalletPage },
  { path: "/deployments", title: "Deployments", role: USER, view: DeploymentsPage },
  { path: "/staking", title: "Staking", role: USER, view: StakingPage },
  { path: "/notifications", title: "Notifications", role: null, view: NotificationsPage },
  { path: "/settings", title: "Alerts & webhooks", role: null, view: SettingsPage },
  { path: "/provider", title: "Provider", role: PROVIDER, view: ProviderPage },
  { path: "/alliances", title: "Alliances", role: PROVIDER, view: AlliancesPage },
  { path: "/operator", title: "Operator", role: OPERATOR, view: OperatorPage },
];

function route(pathname, me) {
  const roles = me.roles;
  const allowed = PAGES.filter((p) => !p.role || roles.includes(p.role));
  const m = /^\/deployments\/([0-9]+)$/.exec(pathname);
  if (m && roles.includes(USER)) return html`<${DeploymentDetailPage} id=${m[1]} />`;
  const a = /^\/alliances\/([0-9]+)$/.exec(pathname);
  if (a && roles.includes(PROVIDER)) return html`<${AllianceDetailPage} id=${a[1]} />`;
  const page = PAGES.find((p) => p.path === pathname);
  if (page && !allowed.includes(page)) {
    return html`<p class="error" data-testid="forbidden">Your roles (${roles.join(", ") || "none"}) do not include ${page.role}.</p>`;
  }
  const target = page || allowed[0];
  return target ? html`<${target.view} roles=${roles} wallets=${me.wallets} />` : html`<p data-testid="no-pages">No pages for your roles.</p>`;
}

function SignIn({ onSignedIn }) {
  const siwe = useAction(async () => { await signInWithEthereum(); onSignedIn(); });
  const a0 = useAction(loginWithAuth0);
  return html`<section class="card signin" data-testid="page-signin"><h1>Sign in</h1>
    <button data-testid="signin-auth0" onClick=${() => a0.run()} disabled=${!state.config.auth || !state.config.auth.client_id}>Log in${state.config.auth && state.config.auth.dev ? " (dev issuer)" : ""}</button>
    <button data-testid="signin-siwe" onClick=${() => siwe.run()} disabled=${siwe.busy}>Sign in with Ethereum</button>
    <${ErrorBox} error=${a0.error || siwe.error} testid="signin-error" />
  </section>`;
}

function App() {
  const [me, setMe] = useState(undefined); // undefined: loading; null: signed out
  const [error, setError] = useState(null);
  const [path, setPath] = useState(window.location.pathname);
  const refresh = async () => {
    if (!state.token) { setMe(null); return; }
    try { setMe(await session()); } catch (e) { setError(e); setMe(null); }
  };
  useEffect(() => {
    state.onUnauthorized = () => setMe(null);
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    restoreSession().then(refresh, (e) => { setError(e); setMe(null); });
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const link = useAction(async () => { await signInWithEthereum(); await refresh(); });
  if (me === undefined) return html`<p class="muted" data-testid="loading">Loading…</p>`;
  const roles = me ? me.roles : [];
  return html`<header>
      <b class="brand">cloudmarket</b>
      ${me && html`<nav data-testid="nav">${PAGES.filter((p) => !p.role || roles.includes(p.role)).map((p) =>
        html`<${Link} href=${p.path} testid=${`nav-${p.path.slice(1)}`}>${p.title}<//>`)}</nav>
      <span class="who" data-testid="session-user">${me.name || me.email || me.sub} · ${roles.join(", ") || "no roles"}
        ${me.wallets.length ? html` · <code data-testid="session-wallet">${me.wallets[0]}</code>` : html` <button data-testid="link-wallet" onClick=${() => link.run()}>Link wallet</button>`}
        <button data-testid="logout" onClick=${async () => { await logout(); setMe(null); }}>Log out</button></span>`}
    </header>
    <main>
      <${ErrorBox} error=${error || link.error} testid="session-error" />
      ${me ? route(path, me) : html`<${SignIn} onSignedIn=${refresh} />`}
    </main>`;
}

loadConfig().then(
  () => render(html`<${App} />`, document.getElementById("app")),
  (e) => render(html`<${ErrorBox} error=${e} testid="config-error" />`, document.getElementById("app")),
);
