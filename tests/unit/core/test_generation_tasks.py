"""Creator tasks and their prompt templates."""

from __future__ import annotations

import pytest

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.generation import (
    DEFAULT_TEMPLATES,
    PromptTemplate,
    Provider,
    TaskKind,
    TextRun,
    render,
)


def test_every_task_has_a_template_that_renders() -> None:
    for kind, template in DEFAULT_TEMPLATES.items():
        messages = render(template, topic="a coffee cart launch", text="Our cart opens Friday",
                          tone="formal", language="French")
        assert messages[0].role == "system" and messages[1].role == "user"
        assert kind in DEFAULT_TEMPLATES


def test_missing_input_is_named_plainly() -> None:
    with pytest.raises(InvalidInput, match="Post for X needs a topic"):
        render(DEFAULT_TEMPLATES[TaskKind.X_POST], topic="  ")
    with pytest.raises(InvalidInput, match="needs some draft text"):
        render(DEFAULT_TEMPLATES[TaskKind.HASHTAGS])


def test_a_broken_edited_template_is_reported_not_crashed() -> None:
    broken = PromptTemplate(TaskKind.X_POST, "Post for X", "sys", "About {topic} and {oops")
    with pytest.raises(InvalidInput, match="broken"):
        render(broken, topic="x")


def test_provider_and_task_names_parse_with_aliases() -> None:
    assert Provider.parse("Cloudflare") is Provider.WORKERS_AI
    assert Provider.parse("ollama") is Provider.LOCAL
    assert TaskKind.parse("x-thread") is TaskKind.X_THREAD
    with pytest.raises(InvalidInput, match="use one of: openai, workers_ai, local"):
        Provider.parse("bard")


def test_a_run_collects_deltas_per_variant_and_marks_cut_ones() -> None:
    run = TextRun(Provider.OPENAI, "gpt-4-turbo", TaskKind.X_POST)
    for index, delta in [(0, "Hel"), (1, "Bon"), (0, "lo"), (1, "jour")]:
        run.add_delta(index, delta)
    run.finish[0] = "stop"
    variants = run.variants()
    assert [v.text for v in variants] == ["Hello", "Bonjour"]
    assert not variants[0].partial and variants[1].partial


def test_a_generated_thread_is_cut_so_every_post_fits_x() -> None:
    from mbv_desktop.core.generation import fit_thread
    from mbv_desktop.core.platforms import x_weighted_length

    long_post = "This sentence is fine. " * 20
    thread = fit_thread(f"Hook post.\n\n{long_post}\n\nLast post.")
    posts = thread.split("\n\n")
    assert posts[0] == "Hook post." and posts[-1] == "Last post."
    assert len(posts) >= 4
    assert all(x_weighted_length(p) <= 280 for p in posts)
    assert "".join(thread.split()) == "".join(f"Hook post.{long_post}Last post.".split())
