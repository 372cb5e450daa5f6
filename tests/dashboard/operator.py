"""Page helpers: what an operator does on the dashboard, in the words of the job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.dashboard.fixtures import Server
from tests.store.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMG = ROOT / "docs" / "img"
#: Where screenshots go on an ordinary run; tracked docs/img only on request.
OUT_IMG = ROOT / "out" / "screenshots"


def screenshot_dir() -> Path:
    """``docs/img`` with ``SHOUWANG_UPDATE_SCREENSHOTS=1``, else ``out/screenshots``."""
    return DOCS_IMG if os.environ.get("SHOUWANG_UPDATE_SCREENSHOTS") == "1" else OUT_IMG


class Operator:
    """One person at one browser (own cookies), e.g. ``Operator(browser, srv, "wang")``."""

    def __init__(
        self, browser: Browser, server: Server, name: str, contexts: list[Any], lang: str = "zh"
    ) -> None:
        self.server = server
        self.name = name
        self.context = browser.new_context(
            viewport={"width": 1600, "height": 900},
            locale="zh-CN" if lang == "zh" else "en-US",
            timezone_id="Asia/Shanghai",
            base_url=server.url,
        )
        contexts.append(self.context)
        if lang == "en":
            self.context.add_cookies([{"name": "lang", "value": "en", "url": server.url}])
        self.page: Page = self.context.new_page()

    def logs_in(self) -> Operator:
        p = self.page
        p.goto("/ui/login")
        p.fill("input[name=name]", self.name)
        p.fill("input[name=password]", PASSWORD)
        p.click("button[type=submit]")
        p.wait_for_url("**/ui/desk")
        return self

    def watches_the_desk(self) -> Operator:
        """Open the alarm desk and wait until its live feed is connected."""
        if not self.page.url.endswith("/ui/desk"):
            self.page.goto("/ui/desk")
        self.waits_until_live()
        return self

    def waits_until_live(self, timeout_ms: float = 60_000) -> None:
        self.page.wait_for_function(
            "window.shouwang && window.shouwang.connected", timeout=timeout_ms
        )

    def row(self, incident_id: str) -> Any:
        return self.page.locator(f"#row-{incident_id}")

    def sees_alert(self, incident_id: str, timeout_ms: float = 10_000) -> None:
        expect(self.row(incident_id)).to_be_visible(timeout=timeout_ms)

    def opens(self, incident_id: str) -> None:
        """Click the row; the drawer shows that incident (the table stays in place)."""
        self.row(incident_id).click()
        expect(self.page.locator(f'#drawer [data-incident="{incident_id}"]')).to_be_visible()

    def acts(self, action: str) -> None:
        self.page.click(f'#drawer button[value="{action}"]')

    def claims(self) -> None:
        self.acts("acknowledge")

    def closes(self, reason: str = "confirmed", note: str = "guard checked") -> None:
        d = self.page.locator("#drawer #close-form")
        d.locator("select[name=reason]").select_option(reason)
        d.locator("input[name=text]").fill(note)
        d.locator("button").click()

    def drawer_message(self) -> Any:
        return self.page.locator("#drawer [data-msg]")

    def state_of(self, incident_id: str) -> str:
        return str(self.row(incident_id).get_attribute("data-state"))

    def goes_to(self, page: str) -> None:
        self.page.click(f'nav a[data-nav="{page}"]')
        self.page.wait_for_url(f"**/ui/{page}")

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def screenshot(self, name: str) -> Path:
        """Save the page as ``dashboard-<name>.png`` in :func:`screenshot_dir`."""
        folder = screenshot_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"dashboard-{name}.png"
        self.page.screenshot(path=str(path))
        return path
