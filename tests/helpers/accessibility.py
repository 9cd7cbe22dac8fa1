"""axe-core in the browser tests: inject the pinned axe-core (tests/node, installed by make venv-dev)
into a page and return its serious and critical violations.

The pages' Content-Security-Policy (script-src 'self') refuses a script Playwright adds, so axe runs
in a browser context made with ``bypass_csp=True``, used for nothing else; the real pages are
checked for CSP violations by the ordinary ``page`` fixture (tests/e2e/conftest.py), which fails a
test on any console error."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from tests.helpers.app import ROOT

AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical WCAG 2.x A/AA violations on the page as it is now."""
    assert AXE.exists(), f"{AXE} is missing: make venv-dev installs it (npm ci --prefix tests/node)"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
        }"""
    )
    return [v for v in result if v["impact"] in BLOCKING]
