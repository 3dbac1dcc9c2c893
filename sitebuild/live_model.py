"""The weights of the page's live models, made at build time and cached.

docs/javascripts/vit-live.js runs the shipped tiny ViTs in the page; it
loads one script per model, ``live/<name>.js``, which this module adds to
the site in memory (never committed), made by live_weights.py on a cache
miss, with the widgets' data: the shapes examples (Lab part 1) and the
labelled bank of object images DINO's neighbours come from (Lab part 3). The cache in ``.cache/live/`` is keyed on live_weights.py, the
package modules it imports and the data files they read (the shipped
weights among them: :func:`cache.code_inputs`) and library versions.

``python -m sitebuild.live_model`` is the benchmark: milliseconds per
forward pass of each live model in Chromium (a page opened from disk).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

from mkdocs.structure.files import File

from sitebuild import ROOT, cache

log = logging.getLogger("mkdocs.hooks.live_model")
DATA = Path(__file__).resolve().with_name("live_weights.py")
SCRIPT = ROOT / "docs" / "javascripts" / "vit-live.js"
# The page's vitlessonLive.models: name -> its shipped weights and input.
MODELS: dict[str, dict] = {
    "tiny-shapes": {"weights": "tiny-shapes.pt", "input": [3, 32, 32]},
    "dino-tiny": {"weights": "dino-tiny.pt", "input": [3, 32, 32]},
}
FILES = [f"live/{name}.js" for name in MODELS] + [
    "live/shapes-examples.js",
    "live/objects-bank.js",
]
PROG = "python -m sitebuild.live_model"


def cache_key() -> str:
    return cache.key(
        DATA,
        *cache.code_inputs(DATA.read_text(encoding="utf-8")),
        *cache.versions(*cache.LIBRARIES),
    )


def generated() -> dict[str, bytes]:
    """The live models' weight scripts (site path -> bytes), made on a
    cache miss only."""
    folder = ROOT / ".cache" / "live" / cache_key()
    start = time.perf_counter()
    if not all((folder / path).exists() for path in FILES):
        from sitebuild import live_weights  # torch: on a cache miss only
        from vitlesson._io import write_bytes

        made = live_weights.render()
        if sorted(made) != sorted(FILES):
            raise RuntimeError(
                f"live_weights.py made {sorted(made)}, expected {FILES}"
            )
        for path, content in made.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            write_bytes(folder / path, content)
        log.info(
            f"live models: weights exported ({time.perf_counter() - start:.1f} s)"
        )
    return {path: (folder / path).read_bytes() for path in FILES}


def on_files(files, config):
    for path, content in generated().items():
        files.append(File.generated(config, path, content=content))
    return files


# --- the benchmark -----------------------------------------------------------

BENCH_PAGE = """<!doctype html><meta charset="utf-8"><title>bench</title>
<script src="vit-live.js"></script>
{scripts}
"""

# Times `repeats` passes of each model on random inputs after two warm-up
# passes (the first compiles the code); returns ms per pass of each run.
BENCH_JS = """async ([name, size, repeats]) => {
  const x = Float64Array.from({length: size}, (_, i) => Math.sin(i) * 0.9);
  for (let i = 0; i < 2; i++) await vitlessonLive.run(name, x);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await vitlessonLive.run(name, x);
    times.push(performance.now() - start);
  }
  return times;
}"""


def bench(repeats: int = 30) -> dict[str, list[float]]:
    """Milliseconds per forward pass of each live model in Chromium, each
    of ``repeats`` passes, from a page opened from disk."""
    from playwright.sync_api import sync_playwright

    from sitebuild.chromium import CHROMIUM, CHROMIUM_ARGS

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "vit-live.js").write_bytes(SCRIPT.read_bytes())
        (root / "live").mkdir()
        for path, content in generated().items():
            (root / path).write_bytes(content)
        (root / "bench.html").write_text(
            BENCH_PAGE.format(
                scripts="\n".join(
                    f'<script src="{path}"></script>' for path in FILES
                )
            )
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.goto((root / "bench.html").as_uri())
            times = {
                name: page.evaluate(
                    BENCH_JS,
                    [name, _numel(model["input"]), repeats],
                )
                for name, model in MODELS.items()
            }
            browser.close()
    return times


def _numel(shape: list[int]) -> int:
    size = 1
    for side in shape:
        size *= side
    return size


def main(argv: list[str] | None = None) -> None:
    import statistics

    from vitlesson._arguments import Parser, positive_int

    parser = Parser(
        prog=PROG,
        description="Milliseconds per forward pass of the page's live "
        "models in Chromium (docs/javascripts/vit-live.js).",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=30,
        help="timed passes per model (default 30)",
    )
    args = parser.parse_args(argv)
    try:
        times = bench(args.repeats)
    except KeyboardInterrupt:
        sys.exit(f"{PROG}: interrupted")
    for name, runs in times.items():
        print(
            f"{name}: median {statistics.median(runs):.1f} ms per pass, "
            f"min {min(runs):.1f}, max {max(runs):.1f} "
            f"({len(runs)} passes, Chromium, 32x32 input)"
        )


if __name__ == "__main__":
    main()
