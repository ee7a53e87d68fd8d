// Notifications (any signed-in user): list, mark read, live over SSE.
import { followEvents, get, post } from "../api.js";
import { ErrorBox, html, Loading, Time, useAction, useEffect, useLoad } from "../ui.js";

export function NotificationsPage() {
  const n = useLoad(() => get("/api/notifications?limit=50"));
  useEffect(() => followEvents("/api/notifications/stream", (ev) => { if (ev.event === "notification") n.reload(); }), []);
  const act = useAction(async (path) => { await post(path, {}); n.reload(); });
  return html`<section data-testid="page-notifications"><h1>Notifications</h1>
    <${Loading} s=${n} testid="notifications-load-error">${n.data && html`<div class="card">
      <p><span data-testid="notifications-unread">${n.data.unread}</span> unread
        <button data-testid="notifications-read-all" onClick=${() => act.run("/api/notifications/read-all")}>Mark all read</button></p>
      <ul class="plain" data-testid="notifications-list">${n.data.notifications.map((x) => html`<li data-testid=${`notification-${x.id}`} class=${x.read_at ? "read" : "unread"}>
        <b>${x.title}</b> <small><${Time} t=${x.created_at} /></small><br />${x.body}
        ${x.read_at ? null : html` <button data-testid=${`notification-read-${x.id}`} onClick=${() => act.run(`/api/notifications/${x.id}/read`)}>Mark read</button>`}</li>`)}</ul>
    </div>`}<//>
    <${ErrorBox} error=${act.error} testid="notifications-error" />
  </section>`;
}
