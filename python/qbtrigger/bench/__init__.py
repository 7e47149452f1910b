"""``qbtrigger bench``: qbtrigger against its peers on one machine, and a soak under churn.

Modules, one job each:

- :mod:`.contenders`: the adapter interface and the built-in contenders by key;
- :mod:`.reference`, :mod:`.naive`: the dict-indexed reference matcher and the naive evaluator;
- :mod:`.peer_durable`, :mod:`.peer_rule_engine`: the optional peers (``qbtrigger[peers]``);
- :mod:`.resolve`: a workload's callbacks as concrete conditions, for the peers;
- :mod:`.floor` (+ ``floor.c``): the C floor, compiled at run time;
- :mod:`.check`: the correctness gate; :mod:`.worker`: one pass, in a process of its own;
- :mod:`.compare`: the comparison; :mod:`.report`: table, targets, findings, plot;
- :mod:`.soak`: the churn soak; :mod:`.run`: the subcommand; :mod:`.system`: RSS, machine.
"""
