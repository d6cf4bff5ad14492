// @emrl/pipeline public API (config schemas, scheduler) for programmatic use.
