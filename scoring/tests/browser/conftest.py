"""Browser tests: the system Chromium through Playwright, against pytest-django's live_server.

Playwright's sync API runs an event loop in this thread, which makes Django refuse ORM calls
from the test body unless async-unsafe access is allowed (the live server runs in its own thread).
"""

import os
import shutil

import pytest

from scoring.tests.browser.pages import csp_checked_page

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    with csp_checked_page(browser, accept_downloads=True) as page:
        yield page
