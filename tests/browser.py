"""Headless Chromium for the tests that read pages as people do (the dashboard, the account
page, the Temporal UI): Debian's browser, never a downloaded one, and a wait for text that a
page renders late or across frames."""

from __future__ import annotations

import contextlib
import shutil

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page


def chromium() -> str:
    """The path of Debian's Chromium, or a one-line failure saying how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "chromium not found: pages are tested in a real browser; install Debian's"
            " `chromium` package (`make test` does it when run as root)",
            pytrace=False,
        )
    return found


async def sees(page: Page, text: str) -> None:
    """Until the page's visible text (any of its frames) holds ``text``: the Temporal UI
    renders late, in frames of its own, and splits Markdown across elements."""
    shown = ""
    for _ in range(100):
        texts = []
        for frame in page.frames:
            with contextlib.suppress(PlaywrightError):  # a frame navigating away
                texts.append(await frame.inner_text("body"))
        shown = " ".join(" ".join(texts).split())
        if text in shown:
            return
        await page.wait_for_timeout(200)
    raise AssertionError(f"the page never showed {text!r}; it shows: {shown[-1500:]}")
