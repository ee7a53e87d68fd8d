// cloud-operator: provider requests (approve / reject), settings and pricing with history, jobs, SLA
// overview, staking tiers (scheduled through the outbox) and the escrow's emergency pause.
import { get, post, put } from "../api.js";
import { changedValues, rowsToTiers, tiersToRows, valuesToTexts } from "../forms.js";
import { formatCredit, formatDuration, stringifyJSON, parseJSON } from "../money.js";
import { ErrorBox, Field, html, Loading, Time, useAction, useLoad, useState } from "../ui.js";
import { SlaPolicy, SlaRecords } from "./sla.js";
import { TiersTable } from "./staking.js";

export function OperatorPage() {
  return html`<section data-testid="page-operator"><h1>Operator</h1>
    <${Requests} /><${Versioned} kind="settings" /><${Versioned} kind="pricing" /><${Jobs} />
    <${Sla} /><${Alliances} /><${StakingTiers} /><${EscrowPause} />
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

// Settings and pricing: one field per value of the current version (integers exact; lists comma-separated;
// SLA bands as below:credit pairs), PUT with expected_version (only the changed values are sent); the raw
// JSON stays editable under "Edit as JSON".
function Versioned({ kind }) {
  const cur = useLoad(() => get(`/api/cloud-operator/${kind}`));
  const hist = useLoad(() => get(`/api/cloud-operator/${kind}/history`));
  const [texts, setTexts] = useState(null);
  const [text, setText] = useState(null);
  const done = () => { setTexts(null); setText(null); cur.reload(); hist.reload(); };
  const save = useAction(async () => {
    const values = changedValues(cur.data.values, texts || {});
    if (!Object.keys(values).length) throw new Error("nothing changed");
    await put(`/api/cloud-operator/${kind}`, { values, expected_version: cur.data.version });
    done();
  });
  const saveJson = useAction(async () => {
    await put(`/api/cloud-operator/${kind}`, { values: parseJSON(text), expected_version: cur.data.version });
    done();
  });
  const shown = cur.data ? { ...valuesToTexts(cur.data.values), ...(texts || {}) } : {};
  return html`<div class="card" data-testid=${`operator-${kind}`}><h2>${kind === "settings" ? "Platform settings" : "Pricing"}</h2>
    <${Loading} s=${cur} testid=${`${kind}-load-error`}>${cur.data && html`<p>Version <b data-testid=${`${kind}-version`}>${cur.data.version}</b>${cur.data.created_at ? html`, <${Time} t=${cur.data.created_at} />` : null}</p>
      <table class="form" data-testid=${`${kind}-form`}><tbody>${Object.keys(cur.data.values).map((k) => html`<tr><th><label for=${`${kind}-${k}`}>${k}</label></th>
        <td><input id=${`${kind}-${k}`} data-testid=${`${kind}-field-${k}`} value=${shown[k]} onInput=${(e) => setTexts({ ...(texts || {}), [k]: e.currentTarget.value })} /></td></tr>`)}</tbody></table>
      <button data-testid=${`${kind}-save`} onClick=${() => save.run()} disabled=${save.busy || texts === null}>Save new version</button>
      <details><summary>Edit as JSON</summary>
        <textarea rows="10" data-testid=${`${kind}-values`} value=${text ?? stringifyPretty(cur.data.values)} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
        <button data-testid=${`${kind}-save-json`} onClick=${() => saveJson.run()} disabled=${saveJson.busy || text === null}>Save new version (JSON)</button></details>`}<//>
    <${ErrorBox} error=${save.error || saveJson.error} testid=${`${kind}-error`} />
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

// Every alliance (indexed) with its members; suspend (weight zero, earnings kept; optional reason, its hash
// goes on chain) or reinstate a member — sent by the backend signer through the outbox.
function Alliances() {
  const a = useLoad(() => get("/api/cloud-operator/alliances"));
  const [reasons, setReasons] = useState({});
  const act = useAction(async (allianceId, account, what) => {
    const body = what === "suspend" && reasons[`${allianceId}:${account}`] ? { reason: reasons[`${allianceId}:${account}`] } : {};
    const r = await post(`/api/cloud-operator/alliances/${allianceId}/members/${account}/${what}`, body);
    a.reload();
    return r;
  });
  const r = act.result;
  return html`<div class="card" data-testid="operator-alliances"><h2>Alliances <button data-testid="operator-alliances-refresh" onClick=${a.reload}>Refresh</button></h2>
    <${Loading} s=${a} testid="operator-alliances-load-error">${a.data && html`${a.data.alliances.length ? null : html`<p class="muted">No alliances.</p>`}
      ${a.data.alliances.map(({ alliance: x, members, nodes }) => html`<div data-testid=${`operator-alliance-${x.id}`}>
        <h3>#${x.id} ${x.name ?? html`<code>${x.name_hash}</code>`} <small class="muted">admin <code>${x.admin}</code>, ${nodes} node(s), received ${formatCredit(x.received)}</small></h3>
        <table><thead><tr><th>Member</th><th>Status</th><th>Weight</th><th>Units</th><th>Nodes</th><th>Claimed</th><th></th></tr></thead>
          <tbody>${members.map((m) => { const key = `${x.id}:${m.account}`; return html`<tr data-testid=${`operator-alliance-member-${x.id}-${m.account}`}>
            <td><code>${m.account}</code></td><td data-testid=${`operator-alliance-member-status-${x.id}-${m.account}`}>${m.status}</td><td>${m.weight}</td><td>${m.units}</td><td>${m.nodes}</td><td>${formatCredit(m.claimed)}</td>
            <td>${m.status === "suspended"
              ? html`<button data-testid=${`operator-alliance-reinstate-${x.id}-${m.account}`} onClick=${() => act.run(x.id, m.account, "reinstate")} disabled=${act.busy}>Reinstate</button>`
              : html`<input placeholder="reason (optional)" data-testid=${`operator-alliance-reason-${x.id}-${m.account}`} value=${reasons[key] || ""} onInput=${(e) => setReasons({ ...reasons, [key]: e.currentTarget.value })} />
                <button class="danger" data-testid=${`operator-alliance-suspend-${x.id}-${m.account}`} onClick=${() => act.run(x.id, m.account, "suspend")} disabled=${act.busy}>Suspend</button>`}</td></tr>`; })}</tbody></table></div>`)}`}<//>
    ${r && html`<p data-testid="operator-alliance-result">${r.action} of <code>${r.account}</code> in alliance ${String(r.alliance_id)} (on chain: ${r.chain_status}):
      ${r.outbox_key ? html` sent through the outbox (<code>${r.outbox_key}</code>, ${r.outbox_status})` : " already in that state, nothing sent"}</p>`}
    <${ErrorBox} error=${act.error} testid="operator-alliances-error" />
  </div>`;
}

// The tier set as a form (rows: min stake in tokens, min lock in days, discount in bps; cover per token in
// credits), PUT to schedule it (it takes effect tier_delay later).
function StakingTiers() {
  const t = useLoad(() => get("/api/cloud-operator/staking/tiers"));
  const [f, setF] = useState(null);
  const form = f || (t.data ? tiersToRows(t.data) : null);
  const setRow = (i, k, v) => setF({ ...form, rows: form.rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)) });
  const save = useAction(async () => { const r = await put("/api/cloud-operator/staking/tiers", rowsToTiers(form)); setF(null); t.reload(); return r; });
  const x = t.data, r = save.result;
  return html`<div class="card" data-testid="operator-staking"><h2>Staking tiers</h2>
    <${Loading} s=${t} testid="staking-tiers-load-error">${x && form && html`<${TiersTable} tiers=${x.tiers} testid="operator-staking-tiers" />
      ${x.pending && html`<p data-testid="operator-staking-pending">Scheduled, in force from <${Time} t=${x.pending.activates_at} />:</p><${TiersTable} tiers=${x.pending.tiers} testid="operator-staking-pending-tiers" />`}
      <h3>Schedule a new tier set</h3>
      <p class="muted">Takes effect ${formatDuration(x.tier_delay)} after it is sent. Levels are the rows' order (lowest first).</p>
      <table class="form" data-testid="staking-tiers-form"><thead><tr><th>Level</th><th>Min stake (tokens)</th><th>Min lock (days)</th><th>Discount (bps)</th><th></th></tr></thead>
        <tbody>${form.rows.map((row, i) => html`<tr data-testid=${`staking-tier-row-${i}`}><td>${i + 1}</td>
          <td><input data-testid=${`staking-tier-stake-${i}`} value=${row.min_stake} onInput=${(e) => setRow(i, "min_stake", e.currentTarget.value)} /></td>
          <td><input data-testid=${`staking-tier-lock-${i}`} value=${row.min_lock_days} onInput=${(e) => setRow(i, "min_lock_days", e.currentTarget.value)} /></td>
          <td><input data-testid=${`staking-tier-discount-${i}`} value=${row.discount_bps} onInput=${(e) => setRow(i, "discount_bps", e.currentTarget.value)} /></td>
          <td><button data-testid=${`staking-tier-remove-${i}`} onClick=${() => setF({ ...form, rows: form.rows.filter((_, j) => j !== i) })}>Remove</button></td></tr>`)}</tbody></table>
      <button data-testid="staking-tier-add" onClick=${() => setF({ ...form, rows: [...form.rows, { min_stake: "", min_lock_days: "0", discount_bps: "" }] })}>Add a tier</button>
      <${Field} label="One staked token covers (credits / s of lease rate)" value=${form.cover} onInput=${(v) => setF({ ...form, cover: v })} testid="staking-tiers-cover" />
      <button data-testid="staking-tiers-save" onClick=${() => save.run()} disabled=${save.busy || f === null}>Schedule this tier set</button>`}<//>
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
