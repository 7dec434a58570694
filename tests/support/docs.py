"""Code blocks of our reStructuredText documents, as the tests that run them take them.

A block a test runs is written with ``:name: <name>``; the test finds it by that name, so
what the document shows is what the test proves.
"""

import functools

import docutils.core
import docutils.nodes


@functools.cache  # parsed once per test run: the blocks are read, never changed
def doctree(path):
    """The document at ``path`` parsed by docutils; warnings raise."""
    return docutils.core.publish_doctree(
        path.read_text(), settings_overrides={"report_level": 2, "halt_level": 2}
    )


def named_code_block(path, name):
    """The text of the code block of ``path`` written with ``:name: <name>``."""
    found = [
        node.astext()
        for node in doctree(path).findall(docutils.nodes.literal_block)
        if name in node["names"]
    ]
    assert len(found) == 1, f"{path} has {len(found)} code blocks named {name!r}"
    return found[0] + "\n"
