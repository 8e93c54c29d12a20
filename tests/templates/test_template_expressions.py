"""The expression language itself: grammar, escapes, access rules, laziness, and error positions (research §4)."""

from __future__ import annotations

import pytest

from provider.templates import TemplateError
from provider.templates.parser import Call, Index, Literal, Member, is_expression, parse_expression
from tests.templates.template_fakes import evaluate_expression as ev

PARAMS_TEMPLATE = {
    "parameters": {
        "obj": {"type": "object", "defaultValue": {"Name": "hub", "list": [10, 20, {"deep": "x"}], "n": None}},
        "vmSize": {"type": "string", "defaultValue": "Standard_B1s"},
    },
    "variables": {"iotHubKeyName": "iothubowner", "nested": {"a": "[parameters('vmSize')]"}},
}


def evp(expression):
    return ev(expression, template={k: dict(v) for k, v in PARAMS_TEMPLATE.items()})


# --------------------------------------------------------------------------- grammar


def test_parse_tree_shape():
    node = parse_expression("[concat('a''b', parameters('x').y[0]['z'], ns.f( 1 , -2))]")
    assert isinstance(node, Call) and node.name == "concat"
    first, second, third = node.args
    assert isinstance(first, Literal) and first.value == "a'b"
    assert isinstance(second, Index) and isinstance(second.target, Index)
    assert isinstance(second.target.target, Member) and second.target.target.name == "y"
    assert isinstance(third, Call) and third.namespace == "ns" and [a.value for a in third.args] == [1, -2]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[parameters('x')]", True),
        ("[[parameters('x')]", False),
        ("[test] value", False),
        ("plain", False),
        (" [concat('a')]", False),
        ("[]", True),
    ],
)
def test_expression_detection(text, expected):
    assert is_expression(text) is expected


def test_literals_and_escapes():
    assert ev("[[test value]") == "[test value]"
    assert ev("[test] value") == "[test] value"
    assert ev("{iothub}/{partition}/{YYYY}") == "{iothub}/{partition}/{YYYY}"
    assert ev('level="storage"') == 'level="storage"'
    assert ev("['it''s']") == "it's"
    assert ev("['']") == ""
    assert ev("[-42]") == -42
    assert ev("[concat('a\"b', 'c')]") == 'a"bc'
    assert ev("[ concat( 'a' ,\n 'b' ) ]") == "ab"


def test_whole_string_is_replaced_by_any_type():
    assert ev("[createObject('a', 1)]") == {"a": 1}
    assert ev("[createArray(1, 'x', true())]") == [1, "x", True]
    assert ev("[null()]") is None
    assert ev({"k": "[add(1, 2)]", "list": ["[true()]", "x"]}) == {"k": 3, "list": [True, "x"]}


def test_results_are_not_reevaluated():
    assert ev("[createArray('[concat(1)]')]") == ["[concat(1)]"]


def test_case_insensitive_functions_and_properties():
    assert evp("[CONCAT('a', ToLower('B'))]") == "ab"
    assert evp("[parameters('VMSIZE')]") == "Standard_B1s"
    assert evp("[parameters('obj').name]") == "hub"
    assert evp("[parameters('obj')['NAME']]") == "hub"
    assert evp("[variables('IOTHUBKEYNAME')]") == "iothubowner"


def test_property_and_index_chains():
    assert evp("[parameters('obj').list[2].deep]") == "x"
    assert evp("[parameters('obj')['list'][1]]") == 20
    assert evp("[variables('nested').a]") == "Standard_B1s"
    assert evp("[parameters('obj').n]") is None
    assert ev("[json('[1,[2,3]]')[1][0]]") == 2


def test_sys_namespace_prefix():
    assert ev("[sys.concat('a', 'b')]") == "ab"
    assert ev("[sys.parseCidr('10.0.0.0/24').cidr]") == 24


def test_object_keys_can_be_expressions():
    assert ev({"[concat('k', '1')]": 1, "[[lit]": 2}) == {"k1": 1, "[lit]": 2}


def test_property_copy_in_values():
    value = {"copy": [{"name": "disks", "count": 2, "input": {"lun": "[copyIndex('disks')]"}}], "other": 1}
    assert ev(value) == {"disks": [{"lun": 0}, {"lun": 1}], "other": 1}


# --------------------------------------------------------------------------- laziness


def test_if_is_lazy():
    assert ev("[if(true(), 'yes', fail('not taken'))]") == "yes"
    assert ev("[if(false(), fail('not taken'), 'no')]") == "no"


def test_and_or_short_circuit():
    assert ev("[and(false(), fail('x'))]") is False
    assert ev("[or(true(), fail('x'))]") is True
    assert ev("[and(true(), true(), true())]") is True


def test_coalesce_stops_at_first_non_null():
    assert ev("[coalesce(null(), 'a', fail('x'))]") == "a"
    assert ev("[coalesce(null(), null())]") is None


# --------------------------------------------------------------------------- errors


def _error(expression, **kwargs) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        ev(expression, **kwargs)
    return info.value


@pytest.mark.parametrize(
    "text, position",
    [
        ("[concat(]", 8),
        ("[concat('a)]", 8),
        ("[concat('a' 'b')]", 12),
        ("[f() g]", 5),
        ("[true]", 5),
        ("[1.5]", 1),
        ("[a.b.c()]", 4),
        ("[concat('a'))]", 12),
        ("[concat(#)]", 8),
    ],
)
def test_syntax_errors_report_position(text, position):
    err = _error(text)
    assert err.code == "InvalidTemplate"
    assert err.position == position
    assert text in err.message and "not valid" in err.message


def test_syntax_error_in_template_names_the_path():
    template = {"resources": [{"type": "Microsoft.Devices/IotHubs", "apiVersion": "2021-07-02", "name": "hub",
                               "condition": "[false()]", "properties": {"x": "[concat('a',]"}}]}
    err = _error("x", template=template)
    assert err.target == "resources[0].properties.x"
    assert err.position == 12


def test_unknown_function():
    err = _error("[concatenate('a')]")
    assert "The template function 'concatenate' is not valid" in err.message
    assert err.position == 1


def test_unknown_function_found_at_validation_even_if_unused():
    template = {"variables": {"unused": "[nosuch(1)]"}}
    err = _error("x", template=template)
    assert "nosuch" in err.message and err.target == "variables.unused"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[toLower(1)]", "expects its parameter 1 to be of type 'String'"),
        ("[add('1', 2)]", "expects its parameter 1 to be of type 'Integer'"),
        ("[not('true')]", "to be of type 'Boolean'"),
        ("[if('yes', 1, 2)]", "to be of type 'Boolean'"),
        ("[length(1)]", "String, Array or Object"),
        ("[substring('abc', 2, 5)]", "goes past the end"),
        ("[div(1, 0)]", "division by zero"),
        ("[concat(createArray(1), 'a')]", "to be of type 'Array'"),
    ],
)
def test_wrong_argument_types(text, fragment):
    err = _error(text)
    assert fragment in err.message
    assert err.position is not None


def test_arity_errors():
    assert "at least 2" in _error("[and(true())]").message
    assert "exactly 3" in _error("[if(true(), 1)]").message
    assert "exactly 1" in _error("[toLower('a', 'b')]").message


def test_missing_property_lists_available_ones():
    err = _error("[createObject('a', 1, 'b', 2).c]")
    assert "The language expression property 'c' doesn't exist, available properties are 'a, b'." in err.message


def test_index_errors():
    assert "out of bounds" in _error("[createArray(1)[3]]").message
    assert "indexed by an integer" in _error("[createArray(1)['a']]").message
    assert "can't be indexed" in _error("['abc'[0]]").message
    assert "null" in _error("[null().x]").message


def test_lambda_only_as_argument():
    assert "direct argument" in _error("[lambda('x', lambdaVariables('x'))]").message


def test_fail_message_is_kept():
    err = _error("[fail('custom failure text')]")
    assert err.message == "custom failure text"
