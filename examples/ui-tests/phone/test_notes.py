"""UI tests of the Notes app on the virtual phone, written as a user of vlagent writes them."""


def test_write_and_save_a_note(vl_agent):
    vl_agent.act("Write the note 'Buy milk' in the Notes app and save it")
    vl_agent.check("a note is saved")
    assert vl_agent.query("How many notes are saved?", int) >= 1


def test_tap_opens_notes(vl_agent):
    vl_agent.check("the home screen is shown")
    vl_agent.tap("the Notes app icon")
    vl_agent.wait_for("the Notes app is open", timeout_s=10)
