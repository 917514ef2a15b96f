"""A real headless Chromium clicks through the app in demo mode, like a person would."""

import os
import shutil
import time

import pytest

# Without the test extras (selenium) or Chromium these tests are skipped, saying why; in CI, where
# .ci/run installs both, a skip would hide a broken setup, so it fails instead.
def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the browser tests must run", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    missing("selenium is not installed (pip install -r requirements-test.txt)")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    missing("chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)")

import app as flow_app  # noqa: E402
from ui.app_ui import TABS  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page_url(tiny_weights, tmp_path_factory, free_port):
    out = tmp_path_factory.mktemp("browser_outputs")
    model_flags = [arg for repo, path in tiny_weights.items() for arg in ("--model-path", f"{repo}={path}")]
    app = flow_app.launch(flow_app.parse_args(["--demo", "--output-dir", str(out), "--port", str(free_port()), *model_flags]),
                          prevent_thread_lock=True)
    yield app.local_url
    app.close()


@pytest.fixture
def browser():
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--disable-component-update", "--no-first-run", "--window-size=1400,1800"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield browser
    browser.quit()


def open_tab(browser, wait, title):
    wait.until(EC.element_to_be_clickable(
        (By.XPATH, f"//button[@role='tab'][contains(normalize-space(.), '{title}')]"))).click()
    # the open tab: the first shown panel (an outer tab's panel comes before its inner tabs' panels)
    return next(p for p in browser.find_elements(By.CSS_SELECTOR, "div[role='tabpanel']") if p.is_displayed())


# The section of each tab that its first example belongs to (its Run button and status line).
FIRST_SECTION = {"flow_video": "flow_video", "lora_trainer": "lora_trainer", "image_to_video": "image_to_video",
                 "long_video": "long_video_pyramid", "frame_prediction": "frame_prediction"}


@pytest.mark.parametrize("tab", TABS, ids=lambda tab: tab.id)
def test_each_tab_runs_its_first_example_with_one_click(page_url, browser, tmp_path, tab):
    browser.get(page_url)
    wait = WebDriverWait(browser, 300)
    panel = open_tab(browser, wait, tab.title)
    section = FIRST_SECTION[tab.id]
    first = next(e for e in panel.find_elements(By.CSS_SELECTOR, "button.gallery-item") if e.is_displayed())
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", first)
    first.click()  # the tab's first example
    time.sleep(1)  # the example's files reach the inputs
    run = browser.find_element(By.ID, f"{section}_run")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", run)
    run.click()
    wait.until(EC.text_to_be_present_in_element((By.ID, f"{section}_status"), "Done"))
    shot = tmp_path / f"{tab.id}.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_a_failed_job_says_why_and_leaves_no_error_badges(page_url, browser):
    browser.get(page_url)
    wait = WebDriverWait(browser, 120)
    panel = open_tab(browser, wait, "Long text-to-video")
    browser.find_element(By.ID, "long_video_run").click()  # no prompt
    wait.until(EC.text_to_be_present_in_element((By.ID, "long_video_status"), "Failed"))
    assert "prompt is empty" in browser.find_element(By.ID, "long_video_status").text
    time.sleep(1)
    badges = [e for e in panel.find_elements(By.CSS_SELECTOR, "[data-testid='status-tracker'].error") if e.is_displayed()]
    assert not badges
    browser.find_element(By.ID, "long_video_stop").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "long_video_status"), "Nothing is running"))


def test_switch_tabs_and_generate_a_video(page_url, browser, tmp_path):
    browser.get(page_url)
    wait = WebDriverWait(browser, 120)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "button[role='tab']")))
    for tab in TABS:
        button = browser.find_element(By.XPATH, f"//button[@role='tab'][contains(normalize-space(.), '{tab.title}')]")
        button.click()
        assert button.get_attribute("aria-selected") == "true"
        browser.save_screenshot(str(tmp_path / f"{tab.id}.png"))  # one per tab, in pytest's tmp folder
    browser.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Long text-to-video')]").click()
    assert "Demo mode" in browser.find_element(By.TAG_NAME, "body").text

    browser.find_element(By.CSS_SELECTOR, "#long_video_prompt textarea").send_keys("a paper boat on a river")
    browser.find_element(By.ID, "long_video_run").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#long_video_preview img")))
    video = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#long_video_result video")))
    assert video.get_attribute("src")
    wait.until(EC.text_to_be_present_in_element((By.ID, "long_video_status"), "Done"))
    shot = tmp_path / "long_video.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_stop_ends_a_running_job_and_the_next_one_runs(page_url, browser):
    browser.get(page_url)
    wait = WebDriverWait(browser, 120)
    wait.until(EC.element_to_be_clickable((By.XPATH, "//button[@role='tab'][contains(., 'Long text-to-video')]"))).click()
    steps = browser.find_element(By.CSS_SELECTOR, "#long_video_steps input[type='number']")
    steps.clear()
    steps.send_keys("80\n")
    browser.find_element(By.CSS_SELECTOR, "#long_video_prompt textarea").send_keys("a slow sunrise")
    browser.find_element(By.ID, "long_video_run").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "long_video_status"), "denoising"))
    browser.find_element(By.ID, "long_video_stop").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "long_video_status"), "Stopped"))
    steps.clear()
    steps.send_keys("2\n")
    browser.find_element(By.ID, "long_video_run").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "long_video_status"), "Done"))
