"""End-to-end console flows in headless Chromium against the real service (see conftest.py).

Each flow is its own test so partial progress is visible; each writes screenshots of the pages it passes
through to docs/screenshots/ (committed; the README shows them).
"""

from __future__ import annotations

from tests.browser.conftest import Browser, Console


def siwe_sign_in(b: Browser) -> None:
    b.open("/")
    b.click("signin-siwe")
    b.by_testid("nav", timeout=30)
    assert b.account.lower() in b.text("session-wallet").lower()


def test_wallet_user_signs_in_with_siwe(console: Console, browser_factory) -> None:
    b = browser_factory(account_index=7)
    b.open("/")
    b.by_testid("page-signin")
    b.screenshot("signin")
    siwe_sign_in(b)
    assert "cloud-user" in b.text("session-user")
    b.by_testid("page-wallet")
    b.screenshot("wallet")


def card_top_up(b: Browser, usd: str) -> None:
    """On the wallet page: pay ``usd`` with the stand-in Stripe Elements test card, wait for the credit."""
    b.click("nav-wallet")
    b.by_testid("page-wallet")
    before = b.text("wallet-credit")
    b.type("topup-amount", usd)
    b.type("stripe-card-number", "4242 4242 4242 4242")
    b.click("topup-pay")
    b.wait_for(lambda: "succeeded" in b.text("topup-status"), timeout=40, what="payment succeeded")

    def credited() -> bool:
        b.click("wallet-refresh")
        return b.text("wallet-credit") != before

    b.wait_for(credited, timeout=40, what="credit on the wallet page")


def test_wallet_user_tops_up_by_card(console: Console, browser_factory) -> None:
    b = browser_factory(account_index=8)
    siwe_sign_in(b)
    b.by_testid("page-wallet")
    assert b.text("wallet-credit").startswith("0.00")
    b.type("topup-amount", "25.00")
    b.click("topup-quote")
    assert "$25.00" in b.text("topup-quote-result") or "25.00" in b.text("topup-quote-result")
    b.type("stripe-card-number", "4242 4242 4242 4242")
    b.screenshot("wallet-topup")
    assert b.wait_for(lambda: b.by_testid("wallet-live").get_attribute("data-state") == "live", what="live")
    b.click("topup-pay")
    b.wait_for(lambda: "succeeded" in b.text("topup-status"), timeout=40, what="payment succeeded")
    # no Refresh click: the mint is indexed, the notifications SSE says `event: wallet`, the page re-reads
    # (the fallback timer is 60 s, longer than this wait)
    b.wait_for(lambda: not b.text("wallet-credit").startswith("0.00"), timeout=40, what="credit pushed")
    assert int(b.by_testid("wallet-live").get_attribute("data-pushes")) >= 1
    assert console.stripe.webhook_deliveries and console.stripe.webhook_deliveries[0][0] == 200
    b.screenshot("wallet-after-topup")


def test_wallet_user_saves_a_card(console: Console, browser_factory) -> None:
    """confirmCardSetup through the stand-in Elements: the card is attached to the user's customer."""
    b = browser_factory(account_index=3)
    siwe_sign_in(b)
    b.by_testid("page-wallet")
    b.click("cards-add")  # mounts a card Element
    field = b.wait_for(
        lambda: b.by_testid("cards-new-card").find_elements(
            "css selector", '[data-testid="stripe-card-number"]'
        ),
        what="the card Element in cards-new-card",
    )[0]
    field.send_keys("5555 5555 5555 4444")
    b.click("cards-add")  # SetupIntent, then confirmCardSetup
    b.wait_for(lambda: "4444" in b.text("cards-list"), what="the saved card in the list")
    assert any(
        r.path.startswith("/v1/setup_intents/") and r.path.endswith("/confirm")
        for r in console.stripe.requests
    )


def auth0_log_in(b: Browser, sub: str, roles: tuple[str, ...]) -> None:
    """The Auth0 SPA SDK's redirect login against the dev issuer: the dev login form, then back with a code
    that the SDK exchanges (PKCE) for tokens."""
    b.open("/")
    b.click("signin-auth0")
    b.by_testid("dev-login-sub")
    assert "/api/auth/dev/authorize" in b.driver.current_url
    assert "code_challenge_method=S256" in b.driver.current_url
    b.type("dev-login-sub", sub)
    for role in ("cloud-user", "cloud-provider", "cloud-operator"):
        box = b.by_testid(f"dev-login-role-{role}")
        if box.is_selected() != (role in roles):
            box.click()
    b.click("dev-login-submit")
    b.by_testid("nav", timeout=30)


def test_auth0_path_user_logs_in_with_pkce(console: Console, browser_factory) -> None:
    b = browser_factory(account_index=9)
    b.open("/")
    b.click("signin-auth0")
    b.by_testid("dev-login-sub")
    b.screenshot("dev-login")
    auth0_log_in(b, "dev|browser-auth0-alice", ("cloud-user",))
    who = b.text("session-user")
    assert "cloud-user" in who
    assert "code=" not in b.driver.current_url  # the SDK consumed the code and cleaned the URL
    b.by_testid("page-wallet")


def test_provider_registers_operator_approves_provider_adds_a_node(console: Console, browser_factory) -> None:
    # the provider: Auth0 path, then links the injected wallet with SIWE (providers are wallet-connected)
    p = browser_factory(account_index=6)
    auth0_log_in(p, "dev|browser-provider", ("cloud-user", "cloud-provider"))
    p.click("link-wallet")
    p.wait_for(lambda: p.account.lower() in p.text("session-wallet").lower(), what="the linked wallet")
    card_top_up(p, "5.00")  # credit for the collateral
    p.click("nav-provider")
    p.by_testid("page-provider")
    p.type("register-wallet", p.account)
    p.type("register-company", "Browser Test Compute")
    p.type("register-contact-name", "Pat Provider")
    p.type("register-contact-email", "pat@provider.test")
    p.type("register-collateral", "1")
    p.click("register-submit")
    row = p.wait_for(
        lambda: [
            el
            for el in p.driver.find_elements("css selector", '[data-testid^="provider-request-status-"]')
            if "pending" in el.text
        ],
        what="a pending provider request",
    )[0]
    request_id = row.get_attribute("data-testid").rsplit("-", 1)[1]
    p.screenshot("provider-registration")

    # the operator approves it
    o = browser_factory(account_index=5)
    auth0_log_in(o, "dev|browser-operator", ("cloud-operator",))
    o.click("nav-operator")
    o.by_testid("page-operator")
    o.by_testid(f"request-{request_id}")
    o.screenshot("operator")
    o.click(f"request-approve-{request_id}")
    o.wait_for(
        lambda: not o.driver.find_elements("css selector", f'[data-testid="request-approve-{request_id}"]'),
        what="the request leaves the pending list",
    )

    # the provider sees it approved and adds a node
    p.driver.refresh()
    p.wait_for(lambda: "approved" in p.text(f"provider-request-status-{request_id}"), what="approved request")
    p.type("node-name", "browser-node-1")
    p.type("node-wallet", p.account)
    p.type("node-region", "eu-west")
    p.type("node-country", "DE")
    p.click("node-add")
    node = p.wait_for(
        lambda: p.driver.find_elements("css selector", '[data-testid^="node-status-"]'), what="the new node"
    )[0]
    node_id = node.get_attribute("data-testid").rsplit("-", 1)[1]
    p.click(f"node-new-token-{node_id}")
    command = p.text("node-agent-command")
    assert "CLOUDMARKET_NODE_TOKEN=cmn_" in command and f"--node-id {node_id}" in command
    p.screenshot("provider-nodes")

    # the node's SLA probe host, set through the SLA table and re-read from the API
    p.click("provider-sla-refresh")
    p.type(f"sla-endpoint-host-{node_id}", "node1.provider.test")
    p.click(f"sla-endpoint-save-{node_id}")
    p.wait_for(lambda: p.text(f"sla-endpoint-{node_id}") == "node1.provider.test", what="the probe host")
    token = console.dev_token(["cloud-user", "cloud-provider"], "dev|browser-provider")
    status, got = console.api("GET", f"/api/cloud-provider/nodes/{node_id}/sla-endpoint", token=token)
    assert status == 200 and got["host"] == "node1.provider.test"


def test_wallet_user_deploys_watches_it_run_tops_up_and_closes(
    console: Console, browser_factory, tmp_path
) -> None:
    from tests.browser.provider_world import onboard_sync

    agent, _node = onboard_sync(console, "ap-south", tmp_path)
    try:
        b = browser_factory(account_index=4)
        siwe_sign_in(b)
        card_top_up(b, "25.00")
        b.click("nav-deployments")
        b.by_testid("page-deployments")
        b.type("create-command", "sleep 600")
        b.type("create-regions", "ap-south")
        b.type("create-duration", "600")
        b.wait_for(lambda: b.text("create-quote-total"), what="the live quote")
        b.screenshot("deployment-create")
        b.click("create-submit")
        b.by_testid("page-deployment", timeout=60)
        b.wait_for(lambda: "running" in b.text("deployment-status"), timeout=60, what="status running")
        # the deployment's SLA: the policy and a row per lease (uptime this period)
        assert b.text("deployment-sla-policy").startswith("Target")

        def sla_lease_rows() -> list[object]:
            rows = b.driver.find_elements("css selector", '[data-testid^="deployment-sla-lease-"]')
            if not rows:
                b.click("deployment-sla-refresh")
            return list(rows)

        b.wait_for(sla_lease_rows, what="the SLA row of the lease")
        b.screenshot("deployment-running")
        runway_before = b.text("deployment-runway")
        b.type("deployment-topup-amount", "1")
        b.click("deployment-topup")
        b.wait_for(
            lambda: "mined" in b.text("deployment-tx-1") or "indexed" in b.text("deployment-tx-1"),
            timeout=40,
            what="the top-up transactions mined",
        )

        # no navigation: the page re-reads the deployment once the transactions are mined, and again on the
        # notifications SSE's `event: wallet` when the indexer saw the top-up paid from the user's wallet
        def longer_runway() -> bool:
            return b.text("deployment-runway") != runway_before

        b.wait_for(longer_runway, timeout=40, what="a longer runway")
        b.click("deployment-close")
        b.wait_for(
            lambda: any(s in b.text("deployment-status") for s in ("closing", "closed")),
            timeout=40,
            what="status closing/closed",
        )
        b.screenshot("deployment-closed")
    finally:
        agent.stop()
