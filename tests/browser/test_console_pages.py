"""The console's other pages, one test per role that signs in once and visits each page, asserting what the
API holds (staking tiers, alert thresholds and webhooks saved through the forms, the auto top-up rule, a swap
quote, an alliance proposed and indexed, the SLA views, the operator's alliance overview).

Screenshots go where the flows' go (docs/screenshots with CLOUDMARKET_SCREENSHOTS=1).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

from tests.browser.conftest import Browser, Console
from tests.browser.test_console_flows import auth0_log_in, siwe_sign_in


def api(console: Console, method: str, path: str, token: str, body: Any = None) -> Any:
    status, got = console.api(method, path, body, token)
    assert status in (200, 201, 202), (method, path, status, got)
    return got


def post_json(url: str, body: Any, token: str) -> Any:
    req = urllib.request.Request(  # noqa: S310 — loopback URL we built
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 — loopback URL we built
        return json.loads(resp.read())


def siwe_token(b: Browser) -> str:
    token = b.driver.execute_script("return sessionStorage.getItem('cloudmarket.session')")
    assert token, "no SIWE session token in sessionStorage"
    return str(token)


def test_user_pages_staking_alerts_webhooks_auto_top_up_swap(console: Console, browser_factory) -> None:
    b = browser_factory(account_index=2)
    siwe_sign_in(b)
    token = siwe_token(b)

    # staking: the tiers in force are the API's, the stake is the signed-in wallet's
    b.click("nav-staking")
    b.by_testid("page-staking")
    tiers = api(console, "GET", "/api/staking/tiers", token)
    if tiers["tiers"]:
        for tier in tiers["tiers"]:
            b.by_testid(f"staking-tiers-{tier['level']}")
    else:
        assert "No tiers" in b.text("staking-tiers")
    b.wait_for(lambda: b.account.lower() in b.text("staking-address").lower(), what="the staking address")
    assert b.text("staking-level") == str(api(console, "GET", "/api/staking/me", token)["level"])
    b.screenshot("staking")

    # alerts: thresholds saved through the form, re-read from the API
    b.click("nav-settings")
    b.by_testid("page-settings")
    b.by_testid("alerts-state")
    b.type("alerts-thresholds", "48, 12")
    b.click("alerts-save")
    b.wait_for(lambda: "your thresholds" in b.text("alerts-state"), what="custom thresholds shown")
    alerts = api(console, "GET", "/api/me/alerts", token)
    assert sorted(alerts["thresholds_seconds"]) == [12 * 3600, 48 * 3600] and alerts["custom"] is True

    # webhooks: the API's error is shown; a valid endpoint is registered, its secret shown once
    b.type("webhook-url", "http://example.com/hook")
    b.click("webhook-create")
    assert "invalid_webhook_url" in b.text("webhooks-error")
    url = f"https://hooks.example.com/cloudmarket/{uuid.uuid4().hex[:8]}"
    b.type("webhook-url", url)
    b.type("webhook-description", "browser test")
    b.click("webhook-create")
    b.by_testid("webhook-secret")
    (hook,) = [h for h in api(console, "GET", "/api/me/webhooks", token)["webhooks"] if h["url"] == url]
    assert hook["description"] == "browser test" and hook["events"] == ["*"]
    assert url in b.text(f"webhook-{hook['id']}")
    b.screenshot("settings")

    # auto top-up: the rule saved through the form, re-read from the API
    b.click("nav-wallet")
    b.by_testid("page-wallet")
    b.by_testid("autotopup-state")
    b.type("autotopup-floor", "12")
    b.type("autotopup-target", "48")
    b.type("autotopup-cap", "25")
    b.click("autotopup-save")
    b.wait_for(lambda: "Rule:" in b.text("autotopup-state"), what="the saved rule")
    rule = api(console, "GET", "/api/wallet/auto-top-up", token)["rule"]
    assert rule["floor_seconds"] == 12 * 3600 and rule["target_seconds"] == 48 * 3600
    assert int(rule["monthly_cap"]) == 25 * 10**6
    assert [s["kind"] for s in rule["sources"]] == ["credit"]
    b.screenshot("wallet-auto-top-up")

    # swap: a quote through the form is the API's quote (dev pools of `cloudmarket up`); an unknown
    # symbol's error is shown
    token_in, token_out = "tUSD", "CMC"
    b.type("swap-amount", "1000000")
    b.type("swap-token-in", "NOPE")
    b.click("swap-quote")
    assert "unknown_swap_token" in b.text("swap-error") and "NOPE" in b.text("swap-error")
    b.type("swap-token-in", token_in)
    b.type("swap-token-out", token_out)
    b.click("swap-quote")
    shown = b.text("swap-quote-result")
    quote = post_json(
        console.url("/api/wallet/swap/quote"),
        {"token_in": token_in, "token_out": token_out, "amount_in": 1_000_000},
        token,
    )
    assert f"Out: {quote['amount_out']} " in shown, (shown, quote)
    b.screenshot("wallet-swap")


def test_provider_pages_sla_and_alliances(console: Console, browser_factory) -> None:
    p = browser_factory(account_index=1)
    sub = f"dev|browser-alliance-{uuid.uuid4().hex[:8]}"
    auth0_log_in(p, sub, ("cloud-provider",))
    p.click("link-wallet")
    p.wait_for(lambda: p.account.lower() in p.text("session-wallet").lower(), what="the linked wallet")
    token = console.dev_token(["cloud-provider"], sub)

    # provider SLA: the policy the API states
    p.click("nav-provider")
    p.by_testid("page-provider")
    sla = api(console, "GET", "/api/cloud-provider/sla", token)
    policy = p.text("provider-sla-policy")
    assert policy.startswith("Target") and str(sla["policy"]["target_bps"] // 100) in policy
    if not sla["records"]:
        assert "No SLA breach records" in p.text("provider-sla-records")

    # an alliance proposed through the form: signed by the wallet, indexed, listed and shown
    p.click("nav-alliances")
    p.by_testid("page-alliances")
    name = f"Browser Alliance {uuid.uuid4().hex[:6]}"
    p.type("alliance-create-name", name)
    p.type("alliance-create-terms", "Share revenue by capacity units.")
    p.click("alliance-create")
    p.wait_for(
        lambda: p.by_testid("alliance-create-tx-0").get_attribute("data-state") == "indexed",
        timeout=40,
        what="the proposal indexed",
    )
    (alliance,) = [a for a in api(console, "GET", "/api/alliances", token)["alliances"] if a["name"] == name]
    p.wait_for(lambda: name in p.text(f"alliance-{alliance['id']}"), what="the alliance in the table")
    p.screenshot("alliances")
    p.click(f"alliance-link-{alliance['id']}")
    p.by_testid("page-alliance")
    assert p.text("alliance-name") == name
    detail = api(console, "GET", f"/api/alliances/{alliance['id']}", token)
    for member in detail["members"]:
        p.by_testid(f"alliance-member-{member['account']}")
    p.screenshot("alliance")


def test_operator_pages_sla_jobs_staking_tiers_alliances(console: Console, browser_factory) -> None:
    o = browser_factory(account_index=5)
    sub = "dev|browser-pages-operator"
    auth0_log_in(o, sub, ("cloud-operator",))
    token = console.dev_token(["cloud-operator"], sub)
    o.click("nav-operator")
    o.by_testid("page-operator")

    # SLA overview: the totals the API counts
    sla = api(console, "GET", "/api/cloud-operator/sla", token)
    o.by_testid("sla-policy")
    o.wait_for(lambda: o.text("sla-total-records") == str(sla["totals"]["records"]), what="SLA totals")

    # jobs: the scheduler's jobs, by id
    jobs = api(console, "GET", "/api/cloud-operator/jobs", token)
    for job in jobs["jobs"][:3]:
        o.by_testid(f"job-{job['id']}")

    # settings: one field changed through the form is a new version the API serves
    before = api(console, "GET", "/api/cloud-operator/settings", token)
    want = before["values"]["max_nodes_per_provider"] - 1
    o.type("settings-field-max_nodes_per_provider", str(want))
    o.click("settings-save")
    o.wait_for(
        lambda: o.text("settings-version") == str(before["version"] + 1), what="the new settings version"
    )
    after = api(console, "GET", "/api/cloud-operator/settings", token)
    assert after["values"]["max_nodes_per_provider"] == want
    assert {k: v for k, v in after["values"].items() if k != "max_nodes_per_provider"} == {
        k: v for k, v in before["values"].items() if k != "max_nodes_per_provider"
    }
    # a malformed field is refused before it is sent
    o.type("pricing-field-floor_per_gpu", "1.5")
    o.click("pricing-save")
    assert "floor_per_gpu: not a whole number" in o.text("pricing-error")

    # staking tiers: a set scheduled through the form (tokens, days, bps) goes out through the outbox
    o.by_testid("operator-staking-tiers")
    o.click("staking-tier-add")
    last = len(api(console, "GET", "/api/cloud-operator/staking/tiers", token)["tiers"])
    o.type(f"staking-tier-stake-{last}", "1000000")
    o.type(f"staking-tier-lock-{last}", "0")
    o.type(f"staking-tier-discount-{last}", "100")
    o.type("staking-tiers-cover", "0.5")
    o.click("staking-tiers-save")
    assert "Outbox #" in o.text("staking-tiers-scheduled", timeout=30)
    pending = api(console, "GET", "/api/cloud-operator/staking/tiers", token)
    assert pending["pending"] is None or pending["pending"]["tiers"][-1]["min_stake"] == str(10**24)
    o.screenshot("operator-sla-staking")

    # alliances: every indexed alliance is listed; a member suspended through the page (outbox, indexed)
    # and reinstated. With the provider test before it there is one (run alone: the list is only compared).
    overview = api(console, "GET", "/api/cloud-operator/alliances", token)["alliances"]
    for row in overview:
        o.by_testid(f"operator-alliance-{row['alliance']['id']}")
    active = [
        (r["alliance"]["id"], m["account"]) for r in overview for m in r["members"] if m["status"] == "active"
    ]
    if not active:
        return
    aid, account = active[0]
    suffix = f"{aid}-{account}"
    o.type(f"operator-alliance-reason-{suffix}", "browser test")
    o.click(f"operator-alliance-suspend-{suffix}")
    assert "sent through the outbox" in o.text("operator-alliance-result")

    def status_is(want: str) -> bool:
        if o.text(f"operator-alliance-member-status-{suffix}") == want:
            return True
        o.click("operator-alliances-refresh")
        return False

    o.wait_for(lambda: status_is("suspended"), timeout=40, what="the member suspended on chain")
    o.screenshot("operator-alliances")
    o.click(f"operator-alliance-reinstate-{suffix}")
    o.wait_for(lambda: status_is("active"), timeout=40, what="the member reinstated on chain")
