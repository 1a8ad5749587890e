"""UI tests of a Tk shopping list on a private Xvfb, written as a user of vlagent writes them.
The app starts once per session, so each test adds to the same list."""


def test_add_an_item(vl_agent):
    vl_agent.act("Add 'Buy milk' to the shopping list")
    vl_agent.check("the list shows at least one item")
    assert vl_agent.query("How many items are on the list?", int) >= 1


def test_the_add_button(vl_agent):
    before = vl_agent.query("How many items are on the list?", int)
    vl_agent.tap("the text field")
    vl_agent.act("Add 'Eggs' to the shopping list")
    vl_agent.wait_for("the list shows at least one item", timeout_s=5)
    assert vl_agent.query("How many items are on the list?", int) == before + 1
