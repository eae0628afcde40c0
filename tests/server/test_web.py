"""The chat page in a real headless Chromium (Selenium): ask, read sources, give feedback.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install-browser.sh``). Without
them the test skips locally and fails under CI (env ``CI`` set), so CI cannot skip it silently.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from ragkit.server.app import create_app
from ragkit.server.background import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "scripts/install-browser.sh (or: sudo apt-get install -y chromium chromium-driver)"
WAIT = 20  # seconds; the fake LLM answers in milliseconds, this only absorbs a slow CI machine


def _need_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        message = f"missing {', '.join(missing)}; install with {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {message}")
        pytest.skip(message)


@pytest.fixture
def browser(tmp_path: Path):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def _rows(db: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


@pytest.mark.integration
def test_chat_page_asks_shows_sources_and_records_feedback(browser, pipeline, feedback_db: Path, demo_qa) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    question, answer = demo_qa
    wait = WebDriverWait(browser, WAIT)
    with serve_in_thread(create_app(pipeline, feedback_db)) as url:
        browser.get(url + "/")
        wait.until(lambda d: d.find_element(By.ID, "health").text.startswith("index:"))

        # An empty question is refused in the page, without a request.
        browser.find_element(By.ID, "ask-button").click()
        assert browser.find_element(By.ID, "messages").find_elements(By.CLASS_NAME, "exchange") == []

        box = browser.find_element(By.ID, "question")
        box.send_keys(question)
        browser.find_element(By.ID, "ask-button").click()
        exchange = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".exchange[data-answer-id]")))
        answer_id = exchange.get_attribute("data-answer-id")
        assert exchange.find_element(By.CLASS_NAME, "question").text == question
        assert exchange.find_element(By.CLASS_NAME, "answer").text == answer
        assert box.get_attribute("value") == ""

        sources = exchange.find_elements(By.CSS_SELECTOR, "li.source")
        assert len(sources) == pipeline.k
        first = sources[0]
        assert "cited" in first.get_attribute("class")
        assert first.find_element(By.CLASS_NAME, "source-link").text.startswith("[1] notes/faq.md")

        # Clicking a source shows its location and text.
        view = browser.find_element(By.ID, "source-view")
        assert not view.is_displayed()
        sources[1].find_element(By.CLASS_NAME, "source-link").click()
        wait.until(lambda d: view.is_displayed())
        assert browser.find_element(By.ID, "source-title").text.startswith("[2] ")
        # Clicking the [1] citation in the answer switches to source 1.
        exchange.find_element(By.CSS_SELECTOR, ".answer button.cite").click()
        wait.until(lambda d: d.find_element(By.ID, "source-title").text.startswith("[1] notes/faq.md"))
        assert browser.find_element(By.CSS_SELECTOR, '#source-meta dd[data-field="file"]').text == "notes/faq.md"
        assert "every 5 minutes" in browser.find_element(By.ID, "source-text").text

        # Thumbs up: one rating row in SQLite.
        exchange.find_element(By.CLASS_NAME, "thumb-up").click()
        status = exchange.find_element(By.CSS_SELECTOR, ".feedback .feedback-status")
        wait.until(lambda d: "saved" in status.text)
        assert exchange.find_element(By.CLASS_NAME, "thumb-down").get_attribute("disabled") is not None
        assert _rows(feedback_db, "SELECT rating, chunk_id FROM feedback WHERE answer_id = ?", answer_id) == [(1, None)]

        # Source marks: one row each, with the chunk's text.
        second_id = sources[1].get_attribute("data-chunk-id")
        sources[1].find_element(By.CLASS_NAME, "mark-irrelevant").click()
        wait.until(lambda d: sources[1].find_element(By.CLASS_NAME, "feedback-status").text == "saved")
        first.find_element(By.CLASS_NAME, "mark-relevant").click()
        wait.until(lambda d: first.find_element(By.CLASS_NAME, "feedback-status").text == "saved")
        marks = _rows(feedback_db, "SELECT chunk_id, relevant, chunk_text IS NOT NULL FROM feedback "
                                   "WHERE answer_id = ? AND chunk_id IS NOT NULL ORDER BY id", answer_id)
        assert marks == [(second_id, 0, 1), (first.get_attribute("data-chunk-id"), 1, 1)]

        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
