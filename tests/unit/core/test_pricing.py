"""Costs from the seed's price table."""

from __future__ import annotations

import pytest

from mbv_desktop.core.pricing import format_usd, image_cost, text_cost


def test_gpt4_turbo_and_gpt35_token_prices() -> None:
    assert text_cost("openai", "gpt-4-turbo", 1_000_000, 1_000_000).usd == pytest.approx(40.0)
    assert text_cost("openai", "gpt-3.5-turbo", 2_000, 1_000).usd == pytest.approx(0.0025)


def test_dalle3_standard_square_is_four_cents() -> None:
    cost = image_cost("openai", "dall-e-3", "1024x1024", "standard", 3)
    assert cost.usd == pytest.approx(0.12) and cost.priced


def test_local_models_are_free_and_unknown_models_unpriced() -> None:
    assert text_cost("local", "llama3", 10_000, 10_000).usd == 0
    unknown = text_cost("openai", "gpt-99", 10, 10)
    assert not unknown.priced and unknown.usd == 0


def test_workers_ai_is_billed_in_neurons_and_marked_approximate() -> None:
    cost = text_cost("workers_ai", "@cf/meta/llama-3.1-8b-instruct", 1_000_000, 0)
    assert cost.approximate and cost.units == pytest.approx(25_608)
    assert cost.usd == pytest.approx(25_608 / 1000 * 0.011)


def test_format_usd() -> None:
    assert format_usd(0) == "$0.00"
    assert format_usd(0.00042) == "$0.0004"
    assert format_usd(1234.5) == "$1,234.50"
