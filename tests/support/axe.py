"""axe-core, the accessibility checker the browser tests run in a page."""

from tests.support.npm_packages import npm_package

AXE_VERSION = "4.14.1"


def axe_script():
    """axe-core's script, from the npm registry's package (cached)."""
    return npm_package("axe-core", AXE_VERSION) / "axe.min.js"


def axe(page, rules: list[str] | None = None) -> list[dict]:
    """axe-core's violations of serious or critical impact on the page
    (``rules``: only those rules)."""
    violations = page.evaluate(
        """async (rules) => {
            const options = rules ? {resultTypes: ['violations'], runOnly: {type: 'rule', values: rules}}
                                  : {resultTypes: ['violations']};
            return (await axe.run(document, options)).violations
             .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                         targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }""",
        rules,
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]
