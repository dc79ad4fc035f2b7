"""The article's claims, measured and judged: an application built on the engine.

- `planning`: what the claims measure (`ClaimsSettings`, `plan_cases`), which given results are
  reused, and the flat records the verdicts read
- `training`: the training check of claim 4b (the article's recipe on CIFAR-10)
- `measure`: one claims run, through `benchsuite.session.run_plan` like any run, then the verdicts
- `verdicts`: one verdict per claim from measured figures (pure Python)
- `store`: the files of a claims run (``claims.json``, ``claims.md``, ``claims.html``), written and read

`benchsuite.report.claims` renders the claim rows. Importing any of these imports no torch.
"""
