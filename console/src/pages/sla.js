// SLA views shared by the deployment detail (cloud-user), the provider page and the operator page:
// the policy, the current period's uptime per lease/node and the breach records (credit units, BigInt).
import { formatBps, formatCredit, formatDuration } from "../money.js";
import { html, Time } from "../ui.js";

const pct = (bps) => (bps === null || bps === undefined ? "not sampled yet" : formatBps(bps));

export function SlaPolicy({ policy, testid }) {
  return html`<p data-testid=${testid}>Target <b>${formatBps(policy.target_bps)}</b> uptime per ${formatDuration(policy.period)} period;
    credits: ${policy.schedule.length ? policy.schedule.map(([below, credit]) => `below ${formatBps(below)} → ${formatBps(credit)}`).join(", ") : "none"}</p>`;
}

/** Uptime so far in the current period (unix seconds shown in the user's zone). */
export function Period({ p }) {
  return html`<span>${pct(p.uptime_bps)} (<${Time} t=${p.start} /> – <${Time} t=${p.end} />; up ${formatDuration(p.up_seconds)},
    down ${formatDuration(p.down_seconds)}, maintenance ${formatDuration(p.excluded_seconds)})</span>`;
}

export function SlaRecords({ records, testid }) {
  if (!records.length) return html`<p class="muted" data-testid=${testid}>No SLA breach records.</p>`;
  return html`<table data-testid=${testid}><thead><tr><th>#</th><th>Deployment</th><th>Lease</th><th>Node</th><th>Period</th><th>Uptime / target</th><th>Credit</th><th>Charge</th><th>Rebate</th><th>Seized</th><th>Status</th></tr></thead>
    <tbody>${records.map((r) => html`<tr data-testid=${`${testid}-${r.id}`}><td>${r.id}</td><td>${r.deployment_id}</td><td><code>${r.lease_id}</code></td><td>${r.node_id}</td>
      <td><${Time} t=${r.period_start} /> – <${Time} t=${r.period_end} /></td><td>${pct(r.uptime_bps)} / ${formatBps(r.target_bps)}</td><td>${formatBps(r.credit_bps)}</td>
      <td>${formatCredit(r.charge)}</td><td>${formatCredit(r.rebate)}</td><td>${formatCredit(r.seized)}</td><td>${r.status}</td></tr>`)}</tbody></table>`;
}
