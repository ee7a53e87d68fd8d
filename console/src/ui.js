// Shared view helpers (Preact + htm: components without a JSX build step).
import { h, render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { formatTime } from "./money.js";

export const html = htm.bind(h);
export { render, useCallback, useEffect, useRef, useState };

/** Load `fn()` on mount and when `deps` change; returns {data, error, loading, reload}. */
export function useLoad(fn, deps = []) {
  const [s, set] = useState({ data: null, error: null, loading: true });
  const reload = useCallback(async () => {
    set((p) => ({ ...p, loading: true }));
    try { set({ data: await fn(), error: null, loading: false }); } catch (e) { set({ data: null, error: e, loading: false }); }
  }, deps);
  useEffect(() => { reload(); }, [reload]);
  return { ...s, reload };
}

/** Run an async action, exposing busy/error/result. */
export function useAction(fn) {
  const [s, set] = useState({ busy: false, error: null, result: null });
  const run = async (...args) => {
    set({ busy: true, error: null, result: null });
    try { const result = await fn(...args); set({ busy: false, error: null, result }); return result; }
    catch (e) { set({ busy: false, error: e, result: null }); return undefined; }
  };
  return { ...s, run };
}

export function ErrorBox({ error, testid = "error" }) {
  if (!error) return null;
  const status = error.status ? `${error.status} ${error.code}: ` : "";
  const fields = error.details && Array.isArray(error.details.errors) ? error.details.errors : [];
  return html`<div class="error" role="alert" data-testid=${testid}>
    ${status}${error.message}
    ${fields.length ? html`<ul>${fields.map((f) => html`<li>${f.path}: ${f.message}</li>`)}</ul>` : null}
  </div>`;
}

export function Loading({ s, children, testid = "load-error" }) {
  if (s.error) return html`<${ErrorBox} error=${s.error} testid=${testid} />`;
  if (s.loading && !s.data) return html`<p class="muted" data-testid="loading">Loading…</p>`;
  return children;
}

export const Time = ({ t }) => html`<time datetime=${typeof t === "string" ? t : ""}>${formatTime(t)}</time>`;

/** The state of wallet-sent transactions (wallet.sendTransactions updates). */
export function TxList({ txs, testid = "tx-status" }) {
  if (!txs || !txs.length) return null;
  return html`<ul class="txs" data-testid=${testid}>${txs.map((t, i) => html`<li data-testid=${`${testid}-${i}`} data-state=${t.state}>
    ${t.description}: <b>${t.state}</b>${t.hash ? html` <code>${t.hash}</code>` : null}${t.error ? html` <span class="error-text">${t.error}</span>` : null}
  </li>`)}</ul>`;
}

export function navigate(path) {
  window.history.pushState({}, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export const Link = ({ href, children, testid }) => html`<a href=${href} data-testid=${testid}
  onClick=${(e) => { if (e.button === 0 && !e.metaKey && !e.ctrlKey) { e.preventDefault(); navigate(href); } }}>${children}</a>`;

/** A form field bound to a state object. */
export function Field({ label, name, value, onInput, type = "text", testid, ...rest }) {
  return html`<label>${label}<input name=${name} type=${type} value=${value ?? ""} data-testid=${testid}
    onInput=${(e) => onInput(e.currentTarget.value)} ...${rest} /></label>`;
}
