// cloud-operator: provider requests (approve / reject), settings and pricing with history, jobs, SLA
// overview, staking tiers (scheduled through the outbox) and the escrow's emergency pause.
import { get, post, put } from "../api.js";
import { formatCredit, stringifyJSON, parseJSON } from "../money.js";
import { ErrorBox, html, Loading, Time, useAction, useLoad, useState } from "../ui.js";
import { SlaPolicy, SlaRecords } from "./sla.js";
import { TiersTable } from "./staking.js";

export function OperatorPage() {
  return html`<section data-testid="page-operator"><h1>Operator</h1>
    <${Requests} /><${Versioned} kind="settings" /><${Versioned} kind="pricing" /><${Jobs} />
    <${Sla} /><${StakingTiers} /><${EscrowPause} />
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

function Sla() {
  const s = useLoad(() => get("/api/cloud-operator/sla"));
  const x = s.data;
  return html`<div class="card" data-testid="operator-sla"><h2>SLA <button data-testid="sla-refresh" onClick=${s.reload}>Refresh</button></h2>
    <${Loading} s=${s} testid="sla-load-error">${x && html`<${SlaPolicy} policy=${x.policy} testid="sla-policy" />
      <dl class="kv" data-testid="sla-totals">
        <dt>Breach records</dt><dd data-testid="sla-total-records">${String(x.totals.records)}</dd>
        <dt>Rebates</dt><dd data-testid="sla-total-rebates">${formatCredit(x.totals.rebates)}</dd>
        <dt>Seized from collateral</dt><dd data-testid="sla-total-seized">${formatCredit(x.totals.seized)}</dd>
        ${Object.keys(x.totals).filter((k) => k.startsWith("records_")).map((k) => html`<dt>${k.slice("records_".length)}</dt><dd>${String(x.totals[k])}</dd>`)}
      </dl>
      <${SlaRecords} records=${x.records} testid="sla-records" />`}<//>
  </div>`;
}

// The tier set as JSON (platform-token amounts are decimal strings of base units), PUT to schedule it.
function StakingTiers() {
  const t = useLoad(() => get("/api/cloud-operator/staking/tiers"));
  const [text, setText] = useState(null);
  const current = (x) => stringifyJSON({
    tiers: x.tiers.map((r) => ({ min_stake: r.min_stake, min_lock: r.min_lock, discount_bps: r.discount_bps })),
    cover_per_token: x.cover_per_token,
  }, 2);
  const save = useAction(async () => { const r = await put("/api/cloud-operator/staking/tiers", parseJSON(text)); setText(null); t.reload(); return r; });
  const x = t.data, r = save.result;
  return html`<div class="card" data-testid="operator-staking"><h2>Staking tiers</h2>
    <${Loading} s=${t} testid="staking-tiers-load-error">${x && html`<${TiersTable} tiers=${x.tiers} testid="operator-staking-tiers" />
      ${x.pending && html`<p data-testid="operator-staking-pending">Scheduled, in force from <${Time} t=${x.pending.activates_at} />:</p><${TiersTable} tiers=${x.pending.tiers} testid="operator-staking-pending-tiers" />`}
      <p class="muted">Amounts in token base units (18 decimals), min_lock in seconds, discount in bps; a new set takes effect ${String(x.tier_delay)} s after it is sent.</p>
      <textarea rows="8" data-testid="staking-tiers-values" value=${text ?? current(x)} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
      <button data-testid="staking-tiers-save" onClick=${() => save.run()} disabled=${save.busy || text === null}>Schedule this tier set</button>`}<//>
    ${r && html`<p data-testid="staking-tiers-scheduled">Outbox #${String(r.outbox_id)} ${r.status}; in force at the earliest <${Time} t=${r.earliest_activation} /></p>`}
    <${ErrorBox} error=${save.error} testid="staking-tiers-error" />
  </div>`;
}

function EscrowPause() {
  const act = useAction((what) => post(`/api/cloud-operator/escrow/${what}`, {}));
  const r = act.result;
  return html`<div class="card" data-testid="operator-escrow"><h2>Escrow emergency pause</h2>
    <p class="muted">Paused: new opens and top-ups stop (503 escrow_paused); closes and refunds keep working.</p>
    <button class="danger" data-testid="escrow-pause" onClick=${() => act.run("pause")} disabled=${act.busy}>Pause escrow</button>
    <button data-testid="escrow-unpause" onClick=${() => act.run("unpause")} disabled=${act.busy}>Unpause escrow</button>
    ${r && html`<p data-testid="escrow-result">${r.paused ? "Pause" : "Unpause"} asked; escrow was ${r.chain_paused ? "paused" : "running"};
      ${r.outbox_key ? html` sent through the outbox (<code>${r.outbox_key}</code>, ${r.outbox_status})` : " already in that state, nothing sent"}</p>`}
    <${ErrorBox} error=${act.error} testid="escrow-error" />
  </div>`;
}
