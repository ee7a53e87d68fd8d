// Alerts and webhooks: the cloud-user's low-balance alert thresholds (PUT /api/me/alerts) and any
// signed-in user's signed webhook endpoints (register, test delivery, delivery log, remove).
import { del, get, post, put } from "../api.js";
import { formatDuration } from "../money.js";
import { ErrorBox, Field, html, Loading, Time, useAction, useLoad, useState } from "../ui.js";

// webhook event kinds (engine/notifications/services.py EVENT_KINDS)
const EVENTS = ["*", "low_balance", "runway_low", "auto_top_up_failed", "auto_top_up_done", "deployment_closing",
  "maintenance_scheduled", "lease_stopped", "subscription_payment_failed", "webhook.test"];

export function SettingsPage({ roles = [] }) {
  return html`<section data-testid="page-settings"><h1>Alerts and webhooks</h1>
    ${roles.includes("cloud-user") ? html`<${Alerts} />` : null}
    <${Webhooks} />
  </section>`;
}

// thresholds are edited in hours (whole seconds are sent: hours * 3600, integers only)
const toHours = (xs) => xs.map((s) => (Number(s) % 3600 === 0 ? String(Number(s) / 3600) : `${s}s`)).join(", ");
function fromHours(text) {
  return text.split(",").map((x) => x.trim()).filter(Boolean).map((x) => {
    if (/^[0-9]+s$/.test(x)) return Number(x.slice(0, -1));
    if (!/^[0-9]+$/.test(x)) throw new RangeError(`not a whole number of hours (or "<n>s" seconds): ${JSON.stringify(x)}`);
    return Number(x) * 3600;
  });
}

function Alerts() {
  const a = useLoad(() => get("/api/me/alerts"));
  const [text, setText] = useState(null);
  const save = useAction(async (body) => { await put("/api/me/alerts", body); setText(null); a.reload(); });
  const x = a.data;
  return html`<div class="card" data-testid="alerts"><h2>Low-balance alerts</h2>
    <${Loading} s=${a} testid="alerts-load-error">${x && html`<p data-testid="alerts-state">${x.enabled ? "On" : "Off"};
      alerts at ${x.thresholds_seconds.map((s) => formatDuration(s)).join(", ")} of runway left
      (${x.custom ? "your thresholds" : "the operator's default"}; default: ${x.operator_default_seconds.map((s) => formatDuration(s)).join(", ")})</p>
      <label><input type="checkbox" data-testid="alerts-enabled" checked=${x.enabled} onChange=${(e) => save.run({ enabled: e.currentTarget.checked })} /> alerts on</label>
      <div class="row">
        <${Field} label="Thresholds (hours of runway, comma-separated)" value=${text ?? toHours(x.thresholds_seconds)} onInput=${setText} testid="alerts-thresholds" />
        <button data-testid="alerts-save" onClick=${() => save.run({ thresholds_seconds: fromHours(text ?? toHours(x.thresholds_seconds)) })} disabled=${save.busy}>Save thresholds</button>
        <button data-testid="alerts-reset" onClick=${() => save.run({ thresholds_seconds: null })} disabled=${save.busy || !x.custom}>Use the operator's default</button>
      </div>`}<//>
    <p class="muted">Failed auto top-ups and deployments out of funds are announced either way.</p>
    <${ErrorBox} error=${save.error} testid="alerts-error" />
  </div>`;
}

function Webhooks() {
  const w = useLoad(() => get("/api/me/webhooks"));
  const [f, setF] = useState({ url: "", description: "", events: ["*"] });
  const [secret, setSecret] = useState(null);
  const [log, setLog] = useState(null); // {id, data}
  const create = useAction(async () => {
    const body = { url: f.url, events: f.events };
    if (f.description) body.description = f.description;
    const r = await post("/api/me/webhooks", body);
    setSecret(r); setF({ url: "", description: "", events: ["*"] }); w.reload();
  });
  const remove = useAction(async (id) => { await del(`/api/me/webhooks/${id}`); if (log && log.id === id) setLog(null); w.reload(); });
  const deliveries = useAction(async (id, cursor) => {
    const data = await get(`/api/me/webhooks/${id}/deliveries?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    setLog({ id, data });
  });
  const test = useAction(async (id) => { await post(`/api/me/webhooks/${id}/test`, {}); await deliveries.run(id); });
  const toggle = (ev) => setF({ ...f, events: f.events.includes(ev) ? f.events.filter((e) => e !== ev) : [...f.events, ev] });
  return html`<div class="card" data-testid="webhooks"><h2>Webhooks</h2>
    <${Loading} s=${w} testid="webhooks-load-error">${w.data && html`<table data-testid="webhooks-table"><thead><tr><th>#</th><th>URL</th><th>Events</th><th>Description</th><th>Created</th><th></th></tr></thead>
      <tbody>${w.data.webhooks.map((x) => html`<tr data-testid=${`webhook-${x.id}`}><td>${x.id}</td><td><code>${x.url}</code></td><td>${x.events.join(", ")}</td><td>${x.description}</td><td><${Time} t=${x.created_at} /></td>
        <td><button data-testid=${`webhook-test-${x.id}`} onClick=${() => test.run(x.id)}>Send test</button>
          <button data-testid=${`webhook-deliveries-${x.id}`} onClick=${() => deliveries.run(x.id)}>Delivery log</button>
          <button class="danger" data-testid=${`webhook-delete-${x.id}`} onClick=${() => remove.run(x.id)}>Remove</button></td></tr>`)}</tbody></table>
      ${w.data.webhooks.length ? null : html`<p class="muted">No webhooks.</p>`}`}<//>
    ${secret && html`<div class="token" data-testid="webhook-secret">Signing secret of <code>${secret.webhook.url}</code> (shown once): <pre>${secret.secret}</pre></div>`}
    ${log && html`<div data-testid="webhook-log"><h3>Deliveries of webhook ${log.id} <button data-testid="webhook-log-refresh" onClick=${() => deliveries.run(log.id)}>Refresh</button></h3>
      <table data-testid="webhook-deliveries"><thead><tr><th>#</th><th>Event</th><th>Status</th><th>Attempts</th><th>Last HTTP status / error</th><th>Created</th><th>Last attempt</th><th>Next attempt</th><th>Delivered</th></tr></thead>
        <tbody>${log.data.deliveries.map((d) => html`<tr data-testid=${`webhook-delivery-${d.id}`}><td>${d.id}</td><td>${d.event}</td><td data-testid=${`webhook-delivery-status-${d.id}`}>${d.status}</td><td>${d.attempts}</td>
          <td>${d.last_status_code ?? ""}${d.last_error ? html` <span class="error-text">${d.last_error}</span>` : null}</td><td><${Time} t=${d.created_at} /></td>
          <td><${Time} t=${d.last_attempt_at} /></td><td><${Time} t=${d.next_attempt_at} /></td><td><${Time} t=${d.delivered_at} /></td></tr>`)}</tbody></table>
      ${log.data.next_cursor ? html`<button data-testid="webhook-log-next" onClick=${() => deliveries.run(log.id, log.data.next_cursor)}>Older</button>` : null}</div>`}
    <h3>Register an endpoint</h3>
    <div class="row">
      <${Field} label="URL" value=${f.url} onInput=${(v) => setF({ ...f, url: v })} testid="webhook-url" />
      <${Field} label="Description" value=${f.description} onInput=${(v) => setF({ ...f, description: v })} testid="webhook-description" />
    </div>
    <div class="row">${EVENTS.map((ev) => html`<label><input type="checkbox" data-testid=${`webhook-event-${ev}`} checked=${f.events.includes(ev)} onChange=${() => toggle(ev)} /> ${ev === "*" ? "all events" : ev}</label>`)}</div>
    <button data-testid="webhook-create" onClick=${() => create.run()} disabled=${create.busy || !f.url}>Register</button>
    <${ErrorBox} error=${create.error || remove.error || test.error || deliveries.error} testid="webhooks-error" />
  </div>`;
}
