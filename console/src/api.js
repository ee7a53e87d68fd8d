// The API client: configuration, bearer token, exact-integer JSON, errors with the API's message, and
// server-sent events over fetch (so the bearer token and Last-Event-ID headers can be sent).
import { parseJSON, stringifyJSON } from "./money.js";

export const state = { config: null, token: null, onUnauthorized: null };

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Load /console-config.json (served next to index.html). */
export async function loadConfig() {
  // Relative to this bundle (dist/assets/), not to the page: a reload of /deployments/1 must not ask for
  // /deployments/console-config.json (the SPA fallback would answer it with index.html).
  const resp = await fetch(new URL("../console-config.json", import.meta.url), { cache: "no-store" });
  if (!resp.ok) throw new Error(`console-config.json: HTTP ${resp.status}`);
  state.config = parseJSON(await resp.text());
  return state.config;
}

export function apiUrl(path) {
  const base = (state.config && state.config.api_base) || window.location.origin;
  return base.replace(/\/$/, "") + path;
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  if (state.token) h.Authorization = `Bearer ${state.token}`;
  return h;
}

export async function api(method, path, body) {
  const init = { method, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}) };
  if (body !== undefined) init.body = stringifyJSON(body);
  let resp;
  try {
    resp = await fetch(apiUrl(path), init);
  } catch (e) {
    throw new ApiError(0, "network", networkMessage(e), {});
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = parseJSON(text); } catch { data = null; }
  }
  if (!resp.ok) {
    const err = data && data.error;
    if (resp.status === 401 && state.onUnauthorized) state.onUnauthorized();
    throw new ApiError(resp.status, err ? err.code : `http_${resp.status}`, err ? err.message : text || resp.statusText,
      err ? err.details : {});
  }
  return data;
}

/** A failed fetch: the browser does not say why; on a console hosted on another origin than the API the
 * usual cause is that the API's CORS settings do not list this page's origin. */
function networkMessage(e) {
  const api = new URL(apiUrl("/"));
  if (api.origin === window.location.origin) return `network error: ${e.message}`;
  return `cannot reach the API at ${api.origin} (${e.message}): is this page's origin ${window.location.origin} ` +
    "allowed by the API's CORS settings (CLOUDMARKET_CORS_ORIGINS)?";
}

export const get = (p) => api("GET", p);
export const post = (p, b = {}) => api("POST", p, b);
export const put = (p, b) => api("PUT", p, b);
export const del = (p) => api("DELETE", p);

/** Fetch a non-JSON body (CSV export) with the bearer token. */
export async function getText(path) {
  const resp = await fetch(apiUrl(path), { headers: headers({ Accept: "text/csv" }) });
  const text = await resp.text();
  if (!resp.ok) {
    let msg = text;
    try { msg = parseJSON(text).error.message; } catch { /* keep text */ }
    throw new ApiError(resp.status, `http_${resp.status}`, msg, {});
  }
  return text;
}

/**
 * Follow an SSE endpoint. Calls onEvent({id, event, data}) per event; reconnects after the server ends
 * the stream (max_seconds) or a network error, sending the last id as Last-Event-ID. Returns stop().
 */
export function followEvents(path, onEvent, onStatus = () => {}) {
  let lastId = null;
  let stopped = false;
  let controller = null;
  async function loop() {
    let delay = 500;
    while (!stopped) {
      controller = new AbortController();
      try {
        const h = headers({ Accept: "text/event-stream" });
        if (lastId !== null) h["Last-Event-ID"] = String(lastId);
        const resp = await fetch(apiUrl(path), { headers: h, signal: controller.signal });
        if (!resp.ok) {
          let msg = resp.statusText;
          try { msg = parseJSON(await resp.text()).error.message; } catch { /* keep */ }
          onStatus({ state: "error", message: `${resp.status}: ${msg}` });
          if (resp.status >= 400 && resp.status < 500) return;
        } else {
          onStatus({ state: "live" });
          delay = 500;
          const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value.replace(/\r\n/g, "\n");
            let k;
            while ((k = buf.indexOf("\n\n")) >= 0) {
              const block = buf.slice(0, k);
              buf = buf.slice(k + 2);
              const ev = { id: null, event: "message", data: "" };
              for (const line of block.split("\n")) {
                if (line.startsWith(":")) continue;
                const c = line.indexOf(":");
                const f = c < 0 ? line : line.slice(0, c);
                const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
                if (f === "id") ev.id = v;
                else if (f === "event") ev.event = v;
                else if (f === "data") ev.data += (ev.data ? "\n" : "") + v;
              }
              if (ev.id !== null) lastId = ev.id;
              if (ev.data) {
                try { ev.data = parseJSON(ev.data); } catch { /* leave text */ }
                onEvent(ev);
              }
            }
          }
          onStatus({ state: "reconnecting" });
        }
      } catch (e) {
        if (stopped) return;
        onStatus({ state: "reconnecting", message: e.message });
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }
  loop();
  return () => { stopped = true; if (controller) controller.abort(); };
}
