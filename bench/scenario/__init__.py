"""What to run: scenario files (TOML) as a validated ``Scenario``, and what they name.

Owns the scenario model (``model``, with its tables in ``request``, ``prompt_table`` and
``load`` on the ``strict`` base, and its errors worded by ``errors_text``) and its TOML writer,
scenarios built from command-line flags, prompt building (``prompts``, drawn ``lengths``,
replayed ``trace`` files), the model catalogue (with prices) and SLO definitions. The first stage of the data
flow (docs/architecture.md): it may import only the shared base (``bench.schema``,
``bench.errors``, ``bench.fmt``, ``bench.timing``), never a later stage.
"""
