"""Scenario 5 for the AdEx pair on every simulator (the checks and why: model_pairs.py)."""

from model_pairs import pair_tests

(test_transfer_values_agree_with_nest, test_population_rates_agree_with_nest,
 test_reference_levels_are_told_apart) = pair_tests("adex")
