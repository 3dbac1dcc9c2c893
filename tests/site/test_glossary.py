"""The glossary: docs/includes/glossary.md read line by line, mistakes named, and the page made from it."""

import pytest

from sitebuild import glossary


def test_entries_are_read_in_order():
    text = "*[ViT]: Vision Transformer.\n\n*[k-NN]: k nearest neighbours: the k closest.\n"
    assert glossary.entries(text) == {
        "ViT": "Vision Transformer.",
        "k-NN": "k nearest neighbours: the k closest.",
    }


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "*[ViT]: one\nViT: two\n",
            r"glossary.md:2: expected '\*\[term\]: definition', got 'ViT: two'",
        ),
        (
            "*[ViT]: one\n*[ViT]: two\n",
            r"glossary.md:2: the term 'ViT' is defined twice",
        ),
    ],
)
def test_mistakes_are_named_with_their_line(text, message):
    with pytest.raises(glossary.GlossaryError, match=message):
        glossary.entries(text, "glossary.md")


def test_the_page_lists_every_term_alphabetically_with_an_anchor():
    terms = {
        "ViT": "Vision <Transformer>",
        "attention": "a & b",
        "ℓ2-normalisation": "unit length",
    }
    page = glossary.page_markdown(terms)
    assert page.startswith("# Glossary\n")
    assert (
        page.index(">attention<")
        < page.index(">ViT<")
        < page.index(">ℓ2-normalisation<")
    )
    assert (
        "<dd>Vision &lt;Transformer&gt;</dd>" in page
        and "<dd>a &amp; b</dd>" in page
    )
    assert (
        'id="term-vit"' in page
        and 'id="term-ℓ2-normalisation"' in page
        and "3 in all" in page
    )


def test_the_shipped_glossary_reads_and_defines_what_the_pages_name():
    terms = glossary.entries(glossary.SOURCE.read_text(encoding="utf-8"))
    for term in (
        "BERT",
        "temperature",
        "KL divergence",
        "ℓ2-normalisation",
        "weight normalisation",
    ):
        assert term in terms
    # the patches page compares a CNN's translation equivariance with a ViT's
    assert (
        "translation" in terms["equivariance"]
        and "shift" in terms["translation equivariance"]
    )
    assert len({glossary.anchor(term) for term in terms}) == len(
        terms
    )  # no two terms share an anchor
