// cloud-operator: provider requests (approve / reject), settings and pricing with history, jobs.
import { get, post, put } from "../api.js";
import { formatCredit, stringifyJSON, parseJSON } from "../money.js";
import { ErrorBox, html, Loading, Time, useAction, useLoad, useState } from "../ui.js";

export function OperatorPage() {
  return html`<section data-testid="page-operator"><h1>Operator</h1>
    <${Requests} /><${Versioned} kind="settings" /><${Versioned} kind="pricing" /><${Jobs} />
  </section>`;
}

function Requests() {
  const [status, setStatus] = useState("pending");
  const r = useLoad(() => get(`/api/cloud-operator/provider-requests?limit=100${status ? `&status=${status}` : ""}`), [status]);
  const [reasons, setReasons] = useState({});
  const act = useAction(async (path, body) => { await post(path, body); r.reload(); });
  return html`<div class="card"><h2>Provider requests
    <select data-testid="requests-filter" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
      <option value="pending">pending</option><option value="approved">approved</option><option value="rejected">rejected</option><option value="">all</option></select></h2>
    <${Loading} s=${r} testid="requests-load-error">${r.data && html`<table data-testid="requests-table"><thead><tr><th>#</th><th>Company</th><th>Contact</th><th>Wallet</th><th>Collateral</th><th>Status</th><th>Created</th><th></th></tr></thead>
      <tbody>${r.data.requests.map((x) => html`<tr data-testid=${`request-${x.id}`}><td>${x.id}</td><td>${x.company}</td><td>${x.contact_name} <${"a"} href=${`mailto:${x.contact_email}`}>${x.contact_email}<//></td>
        <td><code>${x.wallet}</code></td><td>${formatCredit(x.collateral)}</td><td data-testid=${`request-status-${x.id}`}>${x.status}${x.chain_status ? ` (${x.chain_status})` : ""}</td><td><${Time} t=${x.created_at} /></td>
        <td>${x.status === "pending" ? html`<button data-testid=${`request-approve-${x.id}`} onClick=${() => act.run(`/api/cloud-operator/provider-requests/${x.id}/approve`, {})}>Approve</button>
          <input placeholder="reason (optional)" data-testid=${`request-reason-${x.id}`} value=${reasons[x.id] || ""} onInput=${(e) => setReasons({ ...reasons, [x.id]: e.currentTarget.value })} />
          <button class="danger" data-testid=${`request-reject-${x.id}`} onClick=${() => act.run(`/api/cloud-operator/provider-requests/${x.id}/reject`, reasons[x.id] ? { reason: reasons[x.id] } : {})}>Reject</button>` : null}</td></tr>`)}</tbody></table>`}<//>
    <${ErrorBox} error=${act.error} testid="requests-error" />
  </div>`;
}

// Settings and pricing: the current version as JSON (exact integers), edited and PUT with expected_version.
function Versioned({ kind }) {
  const cur = useLoad(() => get(`/api/cloud-operator/${kind}`));
  const hist = useLoad(() => get(`/api/cloud-operator/${kind}/history`));
  const [text, setText] = useState(null);
  const save = useAction(async () => {
    await put(`/api/cloud-operator/${kind}`, { values: parseJSON(text), expected_version: cur.data.version });
    setText(null); cur.reload(); hist.reload();
  });
  return html`<div class="card" data-testid=${`operator-${kind}`}><h2>${kind === "settings" ? "Platform settings" : "Pricing"}</h2>
    <${Loading} s=${cur} testid=${`${kind}-load-error`}>${cur.data && html`<p>Version <b data-testid=${`${kind}-version`}>${cur.data.version}</b>${cur.data.created_at ? html`, <${Time} t=${cur.data.created_at} />` : null}</p>
      <textarea rows="10" data-testid=${`${kind}-values`} value=${text ?? stringifyPretty(cur.data.values)} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
      <button data-testid=${`${kind}-save`} onClick=${() => save.run()} disabled=${save.busy || text === null}>Save new version</button>`}<//>
    <${ErrorBox} error=${save.error} testid=${`${kind}-error`} />
    <details><summary>History</summary>
      <${Loading} s=${hist} testid=${`${kind}-history-load-error`}>${hist.data && html`<ul data-testid=${`${kind}-history`}>${hist.data.changes.map((c) => html`<li>v${c.version} by ${c.actor_user_id ?? "system"} at <${Time} t=${c.created_at} />:
        <code>${changed(c.before, c.after)}</code></li>`)}</ul>`}<//></details>
  </div>`;
}

function stringifyPretty(v) {
  return stringifyJSON(v, 2); // BigInt kept exact
}

function changed(before, after) {
  const keys = new Set([...Object.keys(before || {}), ...Object.keys(after || {})]);
  return [...keys].filter((k) => stringifyJSON(before?.[k]) !== stringifyJSON(after?.[k]))
    .map((k) => `${k}: ${stringifyJSON(before?.[k])} → ${stringifyJSON(after?.[k])}`).join("; ");
}

function Jobs() {
  const j = useLoad(() => get("/api/cloud-operator/jobs"));
  return html`<div class="card"><h2>Jobs <button data-testid="jobs-refresh" onClick=${j.reload}>Refresh</button></h2>
    <${Loading} s=${j} testid="jobs-load-error">${j.data && html`<p data-testid="jobs-leader">Leader: ${j.data.leader || "none"}${j.data.this_process_leads ? " (this process)" : ""}</p>
      <table data-testid="jobs-table"><thead><tr><th>Job</th><th>Outcome</th><th>Last run</th><th>Duration</th><th>Next run</th><th>Runs / failures</th></tr></thead>
      <tbody>${j.data.jobs.map((x) => html`<tr data-testid=${`job-${x.id}`}><td>${x.id}</td><td>${x.outcome || "—"}${x.last_run && x.last_run.error ? html` <span class="error-text">${x.last_run.error}</span>` : null}</td>
        <td><${Time} t=${x.last_run && x.last_run.started_at} /></td><td>${x.last_run && x.last_run.duration_ms != null ? `${x.last_run.duration_ms} ms` : "—"}</td>
        <td><${Time} t=${x.next_run} /></td><td>${x.runs} / ${x.failures}</td></tr>`)}</tbody></table>`}<//>
  </div>`;
}
