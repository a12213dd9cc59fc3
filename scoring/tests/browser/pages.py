"""What the browser tests share: a page that fails on any CSP refusal, logging in, reading tables."""

from contextlib import contextmanager

from playwright.sync_api import expect


@contextmanager
def csp_checked_page(browser, *, width=1280, height=900, **options):
    """A page of its own browser context (`options`: Playwright's new_context options) that fails
    its test if the browser refused anything under the Content-Security-Policy."""
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    refused = []
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )
    try:
        yield page
    finally:
        context.close()
    assert not refused, refused


def log_in(page, live_server, path):
    page.goto(live_server.url + path)
    expect(page.get_by_role("heading", name="Log in to TutorScore")).to_be_visible()
    page.get_by_label("Username").fill("coach")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + path)


def wait_for_htmx(page):
    """Until htmx has finished its requests and swaps: before it has processed a swapped-in link, a
    key press follows the link as a plain one (a full page load, the focus on <body>); a person
    cannot press that fast, a test can (CI failed on it once)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def table_names(page):
    return page.locator(".tutor-table tbody td[data-label=Name] > a").all_inner_texts()


def page_width(page):
    """The document's width once the page has loaded: before its stylesheet applies, an unstyled
    table is wider than a phone (a check right after a text appeared failed that way under load)."""
    page.wait_for_load_state("load")
    return page.evaluate("document.documentElement.scrollWidth")
