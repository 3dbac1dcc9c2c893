"""Summarise a `mutmut run` (``make mutation``): the score per module and the survivors.

A survivor listed in ``tests/equivalent_mutants.txt`` is a change that cannot alter
behaviour (with the reason written next to it); every other survivor is a gap in the
tests. The score counts killed mutants (a failing test or a timeout) over all mutants.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from tests.support import ROOT

EQUIVALENT = ROOT / "tests" / "equivalent_mutants.txt"


def equivalent_mutants() -> dict[str, str]:
    """Mutant name -> why it cannot change behaviour."""
    reasons = {}
    for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, why = line.partition(" ")
            reasons[name] = why.strip()
    return reasons


def main() -> int:
    package = ROOT / "mutants" / "vitlesson"
    metas = sorted(package.rglob("*.py.meta"))
    if not metas:
        print("no mutmut results: run `make mutation`", file=sys.stderr)
        return 1
    equivalent = equivalent_mutants()
    total, survived, unexplained = Counter(), Counter(), []
    for meta in metas:
        module = (
            meta.relative_to(package).as_posix().removesuffix(".py.meta")
        ).replace("/", ".")
        for name, code in json.loads(meta.read_text(encoding="utf-8"))[
            "exit_code_by_key"
        ].items():
            total[module] += 1
            # 0: the tests passed; None: not run; 5 and 33: mutmut found no
            # test that calls the function. None of these is a kill.
            if code in (0, None, 5, 33):
                survived[module] += 1
                if name not in equivalent:
                    unexplained.append(name)
    width = max(map(len, total))
    print(f"{'module':<{width}} {'mutants':>8} {'survived':>9} {'score':>7}")
    for module in sorted(total):
        score = 1 - survived[module] / total[module]
        print(
            f"{module:<{width}} {total[module]:>8} {survived[module]:>9} "
            f"{score:>7.1%}"
        )
    killed = sum(total.values()) - sum(survived.values())
    print(
        f"{'all':<{width}} {sum(total.values()):>8} "
        f"{sum(survived.values()):>9} "
        f"{killed / sum(total.values()):>7.1%}"
    )
    print(
        f"\n{sum(survived.values()) - len(unexplained)} survivors judged equivalent "
        f"({EQUIVALENT.relative_to(ROOT)}); {len(unexplained)} not explained:"
    )
    for name in unexplained:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
