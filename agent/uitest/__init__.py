"""UI testing with a vision-language model: the verbs (``tester.UITester``), the plan cache
(``plans.PlanCache``), and the pytest plugin (``plugin``, registered as ``vlagent``).

Nothing is imported here: pytest loads the plugin in every project where vlagent is installed, and
a test session that never asks for a ``vl_*`` fixture must not pay for (or be affected by) the
library.
"""
