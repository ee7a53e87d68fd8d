// Sign-in: Auth0 (authorization code + PKCE through @auth0/auth0-spa-js; in dev the service's dev issuer
// plays Auth0) or Sign-In with Ethereum for wallet-only users (viem builds and signs the EIP-4361 message).
import { createSiweMessage } from "viem/siwe";
import { get, post, state } from "./api.js";
import { connectWallet } from "./wallet.js";

const TOKEN_KEY = "cloudmarket.session";
let auth0 = null;

const configured = () => { const a = state.config.auth; return !!(a && a.domain && a.client_id); };

// The SDK is loaded on demand (its own chunk): only for a login, a redirect callback, or a cached Auth0 session.
function auth0Used() {
  const q = new URLSearchParams(window.location.search);
  if (q.has("code") && q.has("state")) return true;
  for (let i = 0; i < localStorage.length; i++) if ((localStorage.key(i) || "").startsWith("@@auth0spajs@@")) return true;
  return false;
}

async function auth0Client() {
  const a = state.config.auth;
  if (!configured()) return null;
  if (!auth0) {
    const { createAuth0Client } = await import("@auth0/auth0-spa-js");
    auth0 = await createAuth0Client({
      domain: a.domain,
      clientId: a.client_id,
      issuer: a.issuer || undefined,
      cacheLocation: "localstorage",
      useRefreshTokens: false,
      authorizationParams: { audience: a.audience, redirect_uri: window.location.origin + "/" },
    });
  }
  return auth0;
}

/** Restore a session: an Auth0 redirect callback, a cached Auth0 token, or a stored SIWE session token. */
export async function restoreSession() {
  const client = auth0Used() ? await auth0Client() : null;
  const q = new URLSearchParams(window.location.search);
  if (client && q.has("code") && q.has("state")) {
    const { appState } = await client.handleRedirectCallback();
    window.history.replaceState({}, "", (appState && appState.returnTo) || "/");
  }
  if (client && (await client.isAuthenticated())) {
    try {
      state.token = await client.getTokenSilently(); // from the cache; expired: login_required
      return "auth0";
    } catch (e) {
      if (!["login_required", "consent_required", "missing_refresh_token"].includes(e.error)) throw e;
    }
  }
  const stored = sessionStorage.getItem(TOKEN_KEY);
  if (stored) {
    state.token = stored;
    return "siwe";
  }
  return null;
}

export async function loginWithAuth0() {
  const client = await auth0Client();
  if (!client) throw new Error("Auth0 login is not configured (console-config.json auth.domain/client_id)");
  await client.loginWithRedirect({ appState: { returnTo: window.location.pathname } });
}

/** SIWE: connect the injected wallet, get a nonce, sign, verify. Signs a wallet-only user in, or (already
 * signed in) links the wallet to the current user. */
export async function signInWithEthereum() {
  const { address, sign } = await connectWallet();
  const n = await post("/api/auth/siwe/nonce", {});
  const message = createSiweMessage({
    address,
    chainId: Number(n.chain_id),
    domain: n.domain,
    nonce: n.nonce,
    uri: n.uri,
    version: "1",
    statement: "Sign in to cloudmarket",
    issuedAt: new Date(),
  });
  const signature = await sign(message);
  const r = await post("/api/auth/siwe/verify", { message, signature });
  if (r.session_token) {
    state.token = r.session_token;
    sessionStorage.setItem(TOKEN_KEY, r.session_token);
  }
  return r;
}

export async function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  const client = auth0Used() ? await auth0Client() : null;
  if (client && (await client.isAuthenticated())) {
    await client.logout({ logoutParams: { returnTo: window.location.origin + "/" } });
  }
}

export const session = () => get("/api/auth/session");
