"""UI testing with a vision-language model: the verbs (:class:`UITester`), the plan cache, and the
pytest plugin (``agent.uitest.plugin``, registered as ``vlagent``)."""

from agent.uitest.plans import PlanCache
from agent.uitest.tester import UITestFailure, UITester

__all__ = ["PlanCache", "UITestFailure", "UITester"]
