"""`report --html DIR`: the control center, one static self-contained page, rendered in
headless Chromium with no network (a real audit: apply, a failure, an override)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.runner_support import cli_env, remediate
from tests.test_report import TOKEN, _at, _iso, _repo


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repo(tmp_path_factory.mktemp("control"))


def _page(work: Path, site: Path) -> str:
    env = {**cli_env(_iso(_at(minutes=1))), "DEPLOY_API_TOKEN": TOKEN}
    done = remediate(work, "report", "--period", "7d", "--html", str(site), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and f"wrote {site / 'index.html'}" in done.stderr
    return (site / "index.html").read_text()


def test_the_control_center_shows_signal_stats_approvals_executions_and_overrides(
    work: Path, tmp_path: Path
) -> None:
    page = _page(work, tmp_path / "site")
    assert '<div class="c-signal c-normal" id="signal"><strong>Normal</strong>' in page
    stats = re.search(r'<div class="c-cards" id="stats">(.*?)</div>\n</div>', page, re.S)
    assert stats is not None
    values = re.findall(r'<div class="v">([^<]*)</div><div class="k">([^<]*)</div>', page)
    assert dict((k, v) for v, k in values) == {
        "requests": "4",
        "pending approval": "1",
        "executing": "0",
        "completed": "1",
        "failed": "1",
        "success rate": "25.0%",
    }
    # who may approve the pending request, from a fresh decision of the policies
    assert "<td>prod-1</td><td>production</td><td>api</td><td>2 more from team:sre</td>" in page
    executions = page.split('<section id="executions">')[1].split("</section>")[0]
    assert "Recent executions (2)" in executions
    assert re.search(r"<td>bad-1</td><td><span[^>]*>FAILED</span>.*exited with status 1", page)
    assert re.search(r"<td>ok-1</td><td><span[^>]*>COMPLETED</span>", page)
    overrides = page.split('<section id="overrides">')[1].split("</section>")[0]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in overrides  # data, not markup
    assert TOKEN not in page and "[REDACTED]" in page
    # two charts, drawn inline; no script, font, stylesheet or image from anywhere
    assert 'id="outcomes"' in page and 'id="environments"' in page
    assert page.count("<svg") == 2
    assert "<script" not in page.lower() and "@import" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "default-src 'none'" in page  # and the page says so to the browser


def test_html_dir_must_be_a_directory(work: Path, tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    done = remediate(work, "report", "--html", str(afile))
    assert done.returncode == 2
    assert done.stderr.startswith(f"remediate: --html {afile}: not a directory")


def test_the_control_center_renders_in_headless_chromium_with_no_request_leaving(
    work: Path, tmp_path: Path
) -> None:
    from tests.browser_support import chromium, ink, screenshot

    chromium()
    site = tmp_path / "site"
    _page(work, site)
    shot = tmp_path / "control-center.png"
    left = screenshot(site / "index.html", shot, size="1200,2200")
    assert left == []  # no script, font, image or style from anywhere
    share, colours = ink(shot)
    assert share > 0.05  # header, cards, charts and tables: not a blank page

    def near(rgb: tuple[int, int, int]) -> bool:
        return any(sum(abs(a - b) for a, b in zip(c, rgb, strict=True)) < 30 for c in colours)

    assert near((36, 41, 47))  # the header
    assert near((46, 125, 50)) and near((198, 40, 40))  # completed and failed in the charts
    artifacts = os.environ.get("REMEDIATE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "control-center.png")
