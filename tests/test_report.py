"""`python -m scenarios report`: one self-contained HTML page per result file, checked as a person sees
it, in headless Chromium (Debian's `chromium`; `make chromium` installs it): the page loads without
console errors, every figure is decoded and shown, and a screenshot is kept as a test artefact."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import all_cpus

import evsim
from scenarios.__main__ import main as scenarios_main
from scenarios.machinery.report import ResultFileError, build_page, verdict_class, write_report
from scenarios.machinery.results import StageCache, write_results

REPO = Path(__file__).resolve().parent.parent
ENCODERS = ["current", "poisson", "ratesyn_s", "ratesyn_e"]
FIG2_FIGURES = ["fig2c_perturbation_timing", "fig2d_taacc", "fig2e_ratesyne_fg_bg_timing", "fig2f_ratesyne_fg_bg_taacc", "fig2_eps_sweep"]
HOSTILE = "<script>console.error('not escaped')</script> & \"quoted\""


def fig2_datasets(T: int) -> dict:
    """Fig. 2's documented layout (docs/scenarios/fig2.md), small numbers that fit it."""
    rng = np.random.default_rng(0)
    data = {"ann/accuracy_clean": 0.97, "ann/accuracy_attacked": 0.15, "eps_sweep/eps": [0.0, 0.05, 0.1],
            "eps_sweep/ann/accuracy": [0.97, 0.5, 0.15]}  # fmt: skip
    for e in ENCODERS:
        for k in ("taacc_clean", "taacc_attacked", "taacc_attacked_fg", "taacc_attacked_bg"):
            data[f"snn/{e}/{k}"] = np.sort(rng.random(T))
        for k in ("perturbation_timing", "perturbation_timing_fg", "perturbation_timing_bg"):
            data[f"snn/{e}/{k}"] = np.full(T, 1 / T)
        data[f"snn/{e}/sops"] = rng.integers(0, 10_000, size=2)
        data[f"eps_sweep/{e}/accuracy"] = [0.9, 0.6, 0.3]
    return data


def fig2_file(path: Path, T: int = 6, drop: str = "") -> Path:
    """A Fig. 2 result file by the scenarios' own writer, with two stages: the second run of its
    cache loads the first stage and computes the second, so both kinds of record are in the file."""
    settings = {"scenario": "fig2", "T": T, "encoders": ENCODERS, "attack_eps": 0.1, "mode": "quick", "note": HOSTILE}
    StageCache(path, {"T": T}).get("victim", lambda: {"w": np.ones(3)})
    stages = StageCache(path, {"T": T})
    stages.get("victim", lambda: {"w": np.ones(3)})
    stages.get("snn_ratesyn_e", lambda: {"accuracy": np.ones(2)}, inputs={"victim": stages.keys["victim"]})
    data = {k: v for k, v in fig2_datasets(T).items() if not k.startswith(drop or "\0")}
    return write_results(path, data, settings, stages=stages)


def audit_file(path: Path) -> Path:
    """A result file with a claims table, as repro_audit stores its verdicts (and none of its figures' parts)."""
    verdicts = {
        "verdicts/hypothesis": np.array(["baseline", "H1 eps in normalised units", "H4 TTFS lowers Eq. 31"], dtype=object),
        "verdicts/verdict": np.array(["claim fails", "supported", "holds in 1 of 3 pairs"], dtype=object),
        "verdicts/evidence": np.array(["RateSynE 0.1% at eps 0.5", "13.7% <in> the window", "7.35 vs 8.32"], dtype=object),
    }
    return write_results(path, verdicts, {"scenario": "repro_audit", "mode": "quick", "parts": ["fig3b"]})


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("results")
    # a scenario that draws no figures (bench_engine now draws two)
    bench = write_results(folder / "bench_training.h5", {"evsim/samples_per_s": 1234.5, "evsim/sops": np.arange(50)},
                          {"scenario": "bench_training", "threads": 1})  # fmt: skip
    return {"fig2": fig2_file(folder / "fig2.h5"), "audit": audit_file(folder / "repro_audit.h5"), "bench": bench}


@pytest.fixture(scope="module")
def pages(files, tmp_path_factory) -> dict[str, Path]:
    """The pages of the fig2 and bench_training files, written once (drawing Fig. 2 takes a second or two)."""
    folder = tmp_path_factory.mktemp("pages")
    return {name: write_report(files[name], folder) for name in ("fig2", "bench")}


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_the_fig2_page_embeds_every_figure_and_shows_settings_and_stage_provenance(files, pages):
    page = pages["fig2"].read_text()
    assert "<h2>Figures (5)</h2>" in page and f"<h2>Datasets ({len(fig2_datasets(6))})</h2>" in page
    pngs = images(page)
    assert len(pngs) == 5 and all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 5_000 for p in pngs)
    assert [m for m in re.findall(r'alt="([^"]+)"', page)] == FIG2_FIGURES
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained, inert
    assert HOSTILE not in page and html_escaped(HOSTILE) in page  # a setting is text, never markup
    with h5py.File(files["fig2"], "r") as f:
        for name, value in f.attrs.items():  # every setting and every provenance attribute of the run
            assert f"<code>{name}</code>" in page, name
        assert f"<code>{f.attrs['git_revision']}</code>" in page
        stages = {g.attrs["stage"]: dict(g.attrs) for g in f["provenance/stages"].values()}
    assert set(stages) == {"victim", "snn_ratesyn_e"}
    rows = re.findall(r"<tr><td>(victim|snn_ratesyn_e)</td><td[^>]*>([^<]+)</td>", page)
    assert sorted(rows) == [("snn_ratesyn_e", "computed"), ("victim", "loaded from cache")]
    for info in stages.values():  # content keys in full (the table shows their start, with the whole as its title)
        assert f'title="{info["key"]}"' in page and info["key"] in page
        assert info["code_hash"] in page
    assert f'victim: <code title="{stages["victim"]["key"]}">' in page  # the second stage's input is the first's key
    assert "2 stages, 1 loaded from the cache, 1 computed" in page
    assert "This file holds no claims table" in page and "docs/scenarios/fig2.md" in page


def html_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#x27;")


def test_the_claims_table_shows_the_files_verdicts_coloured_by_what_they_say(files):
    page, shown = build_page(files["audit"])
    assert shown["claims"] == 3 and shown["figures"] == 0
    assert "<th>hypothesis</th><th>verdict</th><th>evidence</th>" in page  # the claim first, then its verdict
    assert '<td class="no">claim fails</td>' in page and '<td class="yes">supported</td>' in page
    assert '<td class="partly">holds in 1 of 3 pairs</td>' in page
    assert "13.7% &lt;in&gt; the window" in page
    assert "The file holds none of the parts this scenario&#x27;s figures are drawn from" in page


@pytest.mark.parametrize(("text", "expected"), [
    ("claim holds", "yes"), ("claim fails", "no"), ("rejected: fixes Fig. 3B, breaks Fig. 2", "no"), ("supported", "yes"),
    ("supported for Fig. 3B (Fig. 2 not run)", "partly"), ("holds in 0 of 3 pairs", "no"), ("holds in 3 of 3 pairs", "yes"),
    ("holds in 2 of 3 pairs", "partly"), ("supported in pixel_a100_v20", "yes"), ("not measured", "partly"),
])  # fmt: skip
def test_verdict_colours(text, expected):
    assert verdict_class(text) == expected


def test_a_file_without_figures_or_stages_gets_a_page_that_says_so(files):
    page, shown = build_page(files["bench"])
    assert shown == {"figures": 0, "claims": 0, "stages": 0, "datasets": 2}
    assert "No figures are drawn for scenario &#x27;bench_training&#x27;" in page
    assert "holds no stage records" in page and "docs/scenarios/bench-training.md" in page
    assert "<code>evsim/samples_per_s</code>" in page and "1234.5" in page
    assert "min 0, mean 24.5, max 49" in page  # a long array is summarised, not dumped


def test_a_file_missing_part_of_its_layout_shows_what_could_be_drawn_and_says_what_is_missing(tmp_path):
    page, shown = build_page(fig2_file(tmp_path / "fig2.h5", drop="snn/ratesyn_e/perturbation_timing_fg"))
    assert shown["figures"] == 2  # Figs. 2C and 2D, drawn before the plotter met the gap (2E)
    assert re.findall(r'alt="([^"]+)"', page) == FIG2_FIGURES[:2]
    assert "Not every figure could be drawn: the file lacks &#x27;dataset snn/ratesyn_e/perturbation_timing_fg&#x27;" in page


def test_files_that_are_not_evsim_results_are_refused_saying_what_they_are(tmp_path, files):
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
        f.attrs["scenario"] = "fig2"  # a name alone does not make a result file
    network = evsim.save_network(evsim.Network.dense([np.ones((2, 3))]), tmp_path / "net.h5")
    stage = next((files["fig2"].parent / "fig2.h5.stages").glob("*.h5"))
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(files["fig2"].read_bytes()[: files["fig2"].stat().st_size // 2])
    cases = [
        (text, "not a readable HDF5 file"), (foreign, "HDF5 but not an evsim result file: it lacks the root attributes git_revision, created"),
        (network, "an evsim network file, not a result file"), (stage, "a stage file of a run, not a result file"),
        (truncated, "not a readable HDF5 file"), (tmp_path, "is a folder"),
    ]  # fmt: skip
    for path, message in cases:
        with pytest.raises(ResultFileError, match=re.escape(message)):
            build_page(path)
    with pytest.raises(FileNotFoundError, match="no result file"):
        build_page(tmp_path / "missing.h5")


def test_damage_anywhere_in_a_result_file_gives_a_page_or_a_clear_refusal_never_a_crash(tmp_path, files):
    """256 bytes overwritten at ten places of a result file: where they hit metadata the file is
    refused as damaged (or not HDF5), where they hit raw numbers it still makes a page (HDF5 keeps
    no checksums of data). (Not the claims file: HDF5 takes seconds to fail on a damaged string heap.)"""
    data = files["bench"].read_bytes()
    refused = []
    for k in range(10):
        damaged = bytearray(data)
        start = int(len(data) * (k + 0.5) / 10)
        damaged[start : start + 256] = b"\xff" * len(damaged[start : start + 256])
        path = tmp_path / f"damaged{k}.h5"
        path.write_bytes(bytes(damaged))
        try:
            build_page(path)
        except ResultFileError as err:
            assert "is a damaged result file" in str(err) or "not a readable HDF5 file" in str(err), err
            refused.append(k)
    assert refused, "no place of the file's metadata was hit"


def test_the_command_writes_pages_refuses_bad_files_with_status_2_and_keeps_an_old_page(tmp_path, files, capsys):
    out = tmp_path / "pages"
    assert scenarios_main(["report", str(files["audit"]), str(files["bench"]), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["bench_training.html", "repro_audit.html"]  # no temporary file left
    before = (out / "bench_training.html").read_bytes()
    (out / "repro_audit.html").unlink()
    bad = tmp_path / "bad" / "bench_training.h5"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # HDF5's signature, nothing behind it
    with pytest.raises(SystemExit) as exit_:
        scenarios_main(["report", str(bad), str(files["audit"]), "--out", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"refused: {bad} is not an evsim result file" in err
    assert (out / "bench_training.html").read_bytes() == before  # the refused file's page did not replace the old one
    assert (out / "repro_audit.html").exists()  # the good file beside it still got its page
    assert write_report(files["bench"]) == files["bench"].with_suffix(".html")  # default: beside the file
    with pytest.raises(SystemExit):  # two files whose pages would share a name in --out
        scenarios_main(["report", str(files["bench"]), str(bad), "--out", str(out)])


# ------------------------------------------------------------------ headless Chromium


def chromium_binary() -> str | None:
    for name in (os.environ.get("EVSIM_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


needs_chromium = pytest.mark.skipif(
    chromium_binary() is None,
    reason="no Chromium binary (chromium, chromium-browser, google-chrome or $EVSIM_CHROMIUM): `make chromium` installs Debian's",
)

# Written into a copy of the page (its hash allowed by the page's policy, nothing else): counts the
# images, how many decoded with a natural width, and every error and policy violation, into the DOM.
CHECK = (
    "(function(){var problems=[];"
    "window.addEventListener('error',function(e){problems.push('error: '+(e.message||(e.target&&e.target.tagName)))},true);"
    "document.addEventListener('securitypolicyviolation',function(e){problems.push('policy: '+e.violatedDirective+' '+e.blockedURI)});"
    "window.addEventListener('load',function(){var im=[].slice.call(document.images);"
    "var out={images:im.length,decoded:im.filter(function(i){return i.complete&&i.naturalWidth>0}).length,"
    "widths:im.map(function(i){return i.naturalWidth}),inline:im.filter(function(i){return i.src.indexOf('data:image/png;base64,')===0}).length,"
    "problems:problems};var p=document.createElement('pre');p.id='report-check';p.textContent=JSON.stringify(out);"
    "document.body.appendChild(p)})})();"
)  # fmt: skip


def chromium(url: str, profile: Path, *extra: str) -> subprocess.Popen:
    """Start headless Chromium on `url` (its own profile folder, so that runs can go side by side)."""
    command = [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", *extra, url]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def with_check(page: Path, folder: Path) -> Path:
    """A copy of `page` with the check script, its hash added to the page's policy (nothing else is)."""
    digest = base64.b64encode(hashlib.sha256(CHECK.encode()).digest()).decode()
    text = page.read_text()
    text = text.replace("style-src 'unsafe-inline'\">", f"style-src 'unsafe-inline'; script-src 'sha256-{digest}'\">\n<script>{CHECK}</script>", 1)
    assert CHECK in text, "the page's Content-Security-Policy was not where the check expects it"
    checked = folder / f"checked-{page.name}"
    checked.write_text(text)
    return checked


def finish(run: subprocess.Popen) -> tuple[str, str]:
    try:
        out, err = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        run.kill()
        out, err = run.communicate()
    assert run.returncode == 0, err[-2000:]
    return out, err


def checked(run: subprocess.Popen) -> tuple[dict, list[str]]:
    """What the check script found in a `--dump-dom` run, and the console's messages."""
    out, err = finish(run)
    found = re.search(r'<pre id="report-check">(.*?)</pre>', out, re.S)
    assert found, f"the check did not run (no load event?): {out[-500:]}"
    console = [line for line in err.splitlines() if ":CONSOLE" in line]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")), console


def artefacts() -> Path:
    folder = Path(os.environ.get("EVSIM_TEST_ARTEFACTS", REPO / "results" / "test-artefacts")) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browsed(pages, tmp_path_factory) -> dict:
    """The fig2 and bench_training pages, and a broken copy of the fig2 page (one figure's data not a
    PNG, one image from the network), loaded side by side; and a screenshot of the fig2 page."""
    folder = tmp_path_factory.mktemp("browsed")
    fig2, bench = pages["fig2"], pages["bench"]
    text = fig2.read_text()
    first = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text).group(1)
    text = text.replace(first, base64.b64encode(b"not a png").decode(), 1)
    broken = folder / "broken.html"
    broken.write_text(text.replace("</body>", '<img src="http://example.invalid/x.png" alt="outside"></body>'))
    shot = artefacts() / "fig2.png"
    shot.unlink(missing_ok=True)
    with all_cpus():  # a pinned test worker's browsers may use the other core too
        runs = {name: chromium(with_check(page, folder).as_uri(), folder / f"profile-{name}", "--dump-dom")
                for name, page in (("fig2", fig2), ("bench", bench), ("broken", broken))}  # fmt: skip
        shooting = chromium(fig2.as_uri(), folder / "profile-shot", "--hide-scrollbars", "--window-size=1280,2000",
                            f"--screenshot={shot}")  # fmt: skip
    done = {name: checked(run) for name, run in runs.items()}
    finish(shooting)
    print(f"report screenshot kept at {shot}")
    return done | {"screenshot": shot}


@needs_chromium
def test_chromium_shows_every_figure_without_console_errors(browsed):
    check, console = browsed["fig2"]
    assert console == [], console
    assert check["problems"] == []
    assert check["images"] == 5 and check["decoded"] == 5 and check["inline"] == 5
    assert min(check["widths"]) > 100
    check, console = browsed["bench"]  # no figures: still a clean page
    assert console == [] and check == {"images": 0, "decoded": 0, "widths": [], "inline": 0, "problems": []}


@needs_chromium
def test_a_screenshot_of_the_page_is_kept(browsed):
    from matplotlib.image import imread

    pixels = imread(browsed["screenshot"])
    assert pixels.shape[:2] == (2000, 1280) and pixels[..., :3].std() > 0.05  # a drawn page, not a blank one


@needs_chromium
def test_the_chromium_check_catches_a_broken_figure_and_an_outside_resource(browsed):
    """The checks above can fail: a figure whose data is not a PNG is not decoded, and an image from
    the network breaks the page's policy, which the console reports."""
    check, console = browsed["broken"]
    assert check["images"] == 6 and check["decoded"] == 4 and check["inline"] == 5
    assert any("img-src" in p for p in check["problems"])
    assert any("example.invalid" in line for line in console)
