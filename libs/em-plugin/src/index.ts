// @emrl/em-plugin public API: everything EM, on rl-grpo's public API.
