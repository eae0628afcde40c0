from __future__ import annotations

import pytest

from ragkit.registry import Component, available, build, get, register


@register("test-kind", "adder")
class Adder(Component):
    def __init__(self, amount: int = 1, label: str = "x"):
        self.amount = amount
        self.label = label

    def apply(self, xs: list[int]) -> list[int]:
        return [x + self.amount for x in xs]


@register("test-kind", "forgetful")
class Forgetful(Component):
    def __init__(self, amount: int = 1):
        self.other = amount


def test_build_and_config_round_trip():
    adder = build("test-kind", {"type": "adder", "amount": 3})
    assert adder.apply([1, 2]) == [4, 5]
    config = adder.to_config()
    assert config == {"type": "adder", "amount": 3, "label": "x"}
    assert build("test-kind", config).to_config() == config
    assert build("test-kind", "adder").amount == 1
    assert "adder" in available("test-kind")
    assert get("test-kind", "adder") is Adder


def test_unknown_names_and_arguments_are_errors():
    with pytest.raises(KeyError, match="no test-kind named 'addr'; available: adder"):
        build("test-kind", "addr")
    with pytest.raises(TypeError, match=r"takes no argument\(s\) \['amout'\]"):
        build("test-kind", {"type": "adder", "amout": 2})
    with pytest.raises(ValueError, match="needs a 'type'"):
        build("test-kind", {"amount": 2})


def test_constructor_arguments_must_be_stored():
    with pytest.raises(AttributeError, match="self.amount"):
        Forgetful(2).to_config()


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="registered twice"):
        register("test-kind", "adder")(type("Other", (Component,), {}))
