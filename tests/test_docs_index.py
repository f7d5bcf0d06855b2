"""The documentation's index: docs/README.md links every page of docs/ (benchmarks and tasks
included) with a line each, every link it holds leads to a file, and the README and the index
both lead to the troubleshooting page."""

import os
import re

from helpers import PROJECT

DOCS = os.path.join(PROJECT, "docs")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def links(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [target for target in LINK.findall(f.read()) if "://" not in target]


def test_the_index_links_every_page():
    pages = sorted(os.path.relpath(os.path.join(root, name), DOCS)
                   for root, _, names in os.walk(DOCS) for name in names if name.endswith(".md"))
    linked = {os.path.normpath(target) for target in links(os.path.join(DOCS, "README.md"))}
    assert [page for page in pages if page != "README.md" and page not in linked] == []


def test_every_link_of_the_index_and_the_readme_leads_to_a_file():
    for page in (os.path.join(DOCS, "README.md"), os.path.join(PROJECT, "README.md")):
        folder = os.path.dirname(page)
        assert [t for t in links(page) if not os.path.exists(os.path.join(folder, t))] == [], page


def test_the_troubleshooting_page_is_linked_from_the_readme_and_the_index():
    assert "docs/troubleshooting.md" in links(os.path.join(PROJECT, "README.md"))
    assert "troubleshooting.md" in links(os.path.join(DOCS, "README.md"))
