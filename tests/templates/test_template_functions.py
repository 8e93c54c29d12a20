"""Built-in functions, checked against the documented examples (research §5) and the hash vectors (§6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provider.templates import EngineOptions, TemplateError
from tests.templates.template_fakes import SUB, TENANT, FakeHost
from tests.templates.template_fakes import evaluate_expression as ev

RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg1"


# --------------------------------------------------------------------------- §6 hashes


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("[uniqueString('test')]", "rbgf3xv4ufgzg"),
        ("[uniqueString('hello', 'world')]", "a7wkljktk6wne"),
        ("[uniqueString('abc')]", "cgtzqvhu4i23s"),
        ("[uniqueString('/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg')]",
         "bmg7c6xu4tw46"),
        ("[uniqueString('foo', 'bar', 'baz')]", "xzi4ioaxtmth4"),
        ("[guid('test')]", "d6a5baf1-8b9b-542a-8525-2982f1f98a0c"),
        ("[guid('a', 'b', 'c')]", "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"),
    ],
)
def test_hash_vectors(expression, expected):
    assert ev(expression) == expected


def test_unique_string_of_resource_group_matches_direct_hash():
    host = FakeHost()
    host.add_group("my-rg")
    assert ev("[uniqueString(resourceGroup().id)]", host=host, group="my-rg") == "bmg7c6xu4tw46"


def test_hash_functions_need_strings():
    with pytest.raises(TemplateError, match="String"):
        ev("[uniqueString(1)]")


# --------------------------------------------------------------------------- strings


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("[concat('prefix', '-', 'suffix')]", "prefix-suffix"),
        ("[concat(createArray('1-1', '1-2'), createArray('2-1'))]", ["1-1", "1-2", "2-1"]),
        ("[concat('n', 1, true())]", "n1True"),
        ("[contains('OneTwoThree', 'e')]", True),
        ("[contains('OneTwoThree', 'z')]", False),
        ("[contains('OneTwoThree', 'one')]", False),
        ("[contains(createObject('one', 'a', 'two', 'b'), 'ONE')]", True),
        ("[contains(createArray('a', 'b', 'c'), 'b')]", True),
        ("[contains(createArray(1, 2), 3)]", False),
        ("[empty(createArray())]", True),
        ("[empty(createObject())]", True),
        ("[empty('')]", True),
        ("[empty(null())]", True),
        ("[empty('a')]", False),
        ("[first('One Two Three')]", "O"),
        ("[first(createArray('one', 'two'))]", "one"),
        ("[first(createArray())]", None),
        ("[first('')]", ""),
        ("[last('One Two Three')]", "e"),
        ("[last(createArray('one', 'two', 'three'))]", "three"),
        ("[indexOf('test', 't')]", 0),
        ("[lastIndexOf('test', 't')]", 3),
        ("[indexOf('abcdef', 'CD')]", 2),
        ("[lastIndexOf('abcdef', 'AB')]", 0),
        ("[indexOf('abcdef', 'z')]", -1),
        ("[indexOf(createArray('one', 'two', 'three'), 'two')]", 1),
        ("[indexOf(createArray(1, 2, 3), 4)]", -1),
        ("[lastIndexOf(createArray(1, 2, 1), 1)]", 2),
        ("[length('One Two Three')]", 13),
        ("[length(createArray('a', 'b', 'c'))]", 3),
        ("[length(createObject('a', 1, 'b', 2))]", 2),
        ("[padLeft('123', 10, '0')]", "0000000123"),
        ("[padLeft(7, 3, '0')]", "007"),
        ("[padLeft('abc', 2)]", "abc"),
        ("[replace('123-123-1234', '-', '')]", "1231231234"),
        ("[replace('123-123-1234', '1234', 'xxxx')]", "123-123-xxxx"),
        ("[replace('aAa', 'a', 'b')]", "bAb"),
        ("[skip('one two three', 4)]", "two three"),
        ("[take('one two three', 2)]", "on"),
        ("[skip(createArray('one', 'two', 'three'), 2)]", ["three"]),
        ("[take(createArray('one', 'two', 'three'), 2)]", ["one", "two"]),
        ("[take(createArray('one'), 5)]", ["one"]),
        ("[skip('abc', -1)]", "abc"),
        ("[take('abc', 0)]", ""),
        ("[split('one,two,three', ',')]", ["one", "two", "three"]),
        ("[split('one;two,three', createArray(',', ';'))]", ["one", "two", "three"]),
        ("[split('a,,b', ',')]", ["a", "", "b"]),
        ("[join(createArray('one', 'two', 'three'), ',')]", "one,two,three"),
        ("[startsWith('abcdef', 'ab')]", True),
        ("[startsWith('abcdef', 'AB')]", True),
        ("[startsWith('abcdef', 'e')]", False),
        ("[endsWith('abcdef', 'ef')]", True),
        ("[endsWith('abcdef', 'F')]", True),
        ("[endsWith('abcdef', 'e')]", False),
        ("[string(createObject('valueA', 10, 'valueB', 'Example Text'))]", '{"valueA":10,"valueB":"Example Text"}'),
        ("[string(createArray('a', 'b', 'c'))]", '["a","b","c"]'),
        ("[string(5)]", "5"),
        ("[string(true())]", "True"),
        ("[string('x')]", "x"),
        ("[substring('one two three', 1, 3)]", "ne "),
        ("[substring('one two three', 4)]", "two three"),
        ("[toLower('One Two Three')]", "one two three"),
        ("[toUpper('One Two Three')]", "ONE TWO THREE"),
        ("[trim('    one two three   ')]", "one two three"),
        ("[uri('http://contoso.org/firstpath', 'myscript.sh')]", "http://contoso.org/myscript.sh"),
        ("[uri('http://contoso.org/firstpath/', 'myscript.sh')]", "http://contoso.org/firstpath/myscript.sh"),
        ("[uri('http://contoso.org/firstpath/', '/myscript.sh')]", "http://contoso.org/firstpath/myscript.sh"),
        ("[uri('http://c.com/a/b.json', 'c.json')]", "http://c.com/a/c.json"),
        ("[uriComponent('http://contoso.com/resources/nested/azuredeploy.json')]",
         "http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json"),
        ("[uriComponentToString('http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json')]",
         "http://contoso.com/resources/nested/azuredeploy.json"),
        ("[base64('one, two, three')]", "b25lLCB0d28sIHRocmVl"),
        ("[base64ToString('b25lLCB0d28sIHRocmVl')]", "one, two, three"),
        ("[base64ToJson('eyJvbmUiOiAiYSIsICJ0d28iOiAiYiJ9')]", {"one": "a", "two": "b"}),
        ("[dataUri('Hello')]", "data:text/plain;charset=utf8;base64,SGVsbG8="),
        ("[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]", "Hello, World!"),
        ("[json('{\"a\": \"b\"}').a]", "b"),
        ("[json('null')]", None),
        ("[json(null())]", {}),
        ("[json('0.5')]", 0.5),
        ("[json('[1, true]')]", [1, True]),
    ],
)
def test_string_functions(expression, expected):
    assert ev(expression) == expected


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("[format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', 8175133)]",
         "Hello, User. Formatted number: 8,175,133"),
        ("[format('{0:D2}-{1:D4}', 7, 42)]", "07-0042"),
        ("[format('{0}/{1}', 'hub', 'default')]", "hub/default"),
        ("[format('{0} is {1}', 'flag', true())]", "flag is True"),
        ("[format('{{literal}} {0}', 'x')]", "{literal} x"),
        ("[format('[{0,5}|{1,-4}]', 'ab', 'c')]", "[   ab|c   ]"),
        ("[format('{0:X}', 255)]", "FF"),
        ("[format('{0:x4}', 255)]", "00ff"),
        ("[format('{0:N2}', json('1234.5'))]", "1,234.50"),
        ("[format('{0:000}', 5)]", "005"),
        ("[format('{0}', createArray(1, 2))]", "[1,2]"),
        ("[format('iothub_privateEndpoints[{0}]', 3)]", "iothub_privateEndpoints[3]"),
    ],
)
def test_format(expression, expected):
    assert ev(expression) == expected


def test_format_argument_out_of_range():
    with pytest.raises(TemplateError, match="refers to argument 1"):
        ev("[format('{1}', 'a')]")


# --------------------------------------------------------------------------- arrays and objects


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("[array(1)]", [1]),
        ("[array('efgh')]", ["efgh"]),
        ("[array(createObject('a', 'b'))]", [{"a": "b"}]),
        ("[array(createArray(1))]", [1]),
        ("[createArray()]", []),
        ("[createObject()]", {}),
        ("[createObject('intProp', 1, 'stringProp', 'abc', 'boolProp', true(), 'arrayProp', createArray('a'), "
         "'objectProp', createObject('key1', 'value1'))]",
         {"intProp": 1, "stringProp": "abc", "boolProp": True, "arrayProp": ["a"], "objectProp": {"key1": "value1"}}),
        ("[range(1, 3)]", [1, 2, 3]),
        ("[range(5, 0)]", []),
        ("[union(createArray('one', 'two', 'three'), createArray('three', 'four'))]", ["one", "two", "three", "four"]),
        ("[union(createObject('one', 'a', 'two', 'b', 'three', 'c2'), createObject('three', 'c3', 'four', 'd'))]",
         {"one": "a", "two": "b", "three": "c3", "four": "d"}),
        ("[intersection(createObject('one', 'a', 'two', 'b', 'three', 'c'), "
         "createObject('one', 'a', 'two', 'z', 'three', 'c'))]", {"one": "a", "three": "c"}),
        ("[intersection(createArray('one', 'two', 'three'), createArray('two', 'three'))]", ["two", "three"]),
        ("[min(createArray(0, 3, 2, 5, 4))]", 0),
        ("[max(createArray(0, 3, 2, 5, 4))]", 5),
        ("[min(0, 3, 2, 5, 4)]", 0),
        ("[max(0, 3, 2, 5, 4)]", 5),
        ("[flatten(createArray(createArray('one', 'two'), createArray('three'), createArray('four', 'five')))]",
         ["one", "two", "three", "four", "five"]),
        ("[objectKeys(createObject('a', 1, 'b', 2))]", ["a", "b"]),
        ("[shallowMerge(createArray(createObject('one', 'a'), createObject('two', 'b')))]", {"one": "a", "two": "b"}),
        ("[tryGet(createObject('a', 1), 'b')]", None),
        ("[tryGet(createObject('a', createObject('b', 2)), 'a', 'b')]", 2),
        ("[tryGet(createArray(1, 2), 5)]", None),
        ("[tryGet(null(), 'a')]", None),
        ("[indexFromEnd(createArray(1, 2, 3), 1)]", 3),
        ("[tryIndexFromEnd(createArray(1, 2, 3), 4)]", None),
    ],
)
def test_array_object_functions(expression, expected):
    assert ev(expression) == expected


def test_union_merges_nested_objects_and_replaces_arrays():
    template = {"parameters": {
        "a": {"type": "object", "defaultValue": {"property": {"one": "a", "two": "b", "three": "c1"},
                                                 "nestedArray": [1, 2]}},
        "b": {"type": "object", "defaultValue": {"property": {"three": "c2", "four": "d", "five": "e"},
                                                 "nestedArray": [3, 4]}},
    }}
    assert ev("[union(parameters('a'), parameters('b'))]", template=template) == {
        "property": {"one": "a", "two": "b", "three": "c2", "four": "d", "five": "e"},
        "nestedArray": [3, 4],
    }


def test_shallow_merge_replaces_nested_objects():
    template = {"variables": {"list": [{"one": "a", "nested": {"a": 1, "nested": {"c": 3}}},
                                       {"two": "b", "nested": {"b": 2}}]}}
    assert ev("[shallowMerge(variables('list'))]", template=template) == {
        "one": "a", "nested": {"b": 2}, "two": "b"}


def test_items_sorted_by_key():
    template = {"variables": {"obj": {"item002": {"enabled": False}, "item001": {"enabled": True}}}}
    assert ev("[items(variables('obj'))]", template=template) == [
        {"key": "item001", "value": {"enabled": True}},
        {"key": "item002", "value": {"enabled": False}},
    ]


def test_coalesce_documented_example():
    template = {"parameters": {"objectToTest": {"type": "object", "defaultValue": {
        "null1": None, "null2": None, "string": "default", "int": 1, "object": {"first": "default"},
        "array": [1]}}}}
    expression = ("[coalesce(parameters('objectToTest').null1, parameters('objectToTest').null2, "
                  "parameters('objectToTest').string)]")
    assert ev(expression, template=template) == "default"
    assert ev("[coalesce(parameters('objectToTest').null1, parameters('objectToTest').array)]",
              template=template) == [1]


# --------------------------------------------------------------------------- logical, numeric, dates


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("[equals(1, 1)]", True),
        ("[equals(1, '1')]", False),
        ("[equals('a', 'A')]", False),
        ("[equals(createArray('a', 'b'), createArray('a', 'b'))]", True),
        ("[equals(createObject('a', 1), createObject('A', 1))]", True),
        ("[equals(createObject('a', 1), createObject('a', 2))]", False),
        ("[equals(true(), 1)]", False),
        ("[greater(10, 5)]", True),
        ("[greaterOrEquals(5, 5)]", True),
        ("[less(10, 5)]", False),
        ("[lessOrEquals('a', 'b')]", True),
        ("[not(equals(1, 2))]", True),
        ("[bool('true')]", True),
        ("[bool('FALSE')]", False),
        ("[bool(0)]", False),
        ("[bool(1)]", True),
        ("[int('4')]", 4),
        ("[int(' -7 ')]", -7),
        ("[float('0.5')]", 0.5),
        ("[add(5, 3)]", 8),
        ("[sub(7, 3)]", 4),
        ("[mul(5, 3)]", 15),
        ("[div(8, 3)]", 2),
        ("[div(-7, 2)]", -3),
        ("[mod(7, 3)]", 1),
        ("[mod(-7, 3)]", -1),
        ("[if(equals(1, 1), json('null'), 'x')]", None),
    ],
)
def test_logical_and_numeric(expression, expected):
    assert ev(expression) == expected


def test_comparing_mixed_types_fails():
    with pytest.raises(TemplateError, match="two integers or two strings"):
        ev("[less(1, 'a')]")


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("[dateTimeAdd('2023-01-01 00:00:00Z', 'P1Y')]", "2024-01-01T00:00:00Z"),
        ("[dateTimeAdd('2024-01-01 00:00:00Z', 'P1Y')]", "2024-12-31T00:00:00Z"),
        ("[dateTimeAdd('2023-02-01 00:00:00Z', 'P1M')]", "2023-03-03T00:00:00Z"),
        ("[dateTimeAdd('2024-02-01 00:00:00Z', 'P1M')]", "2024-03-02T00:00:00Z"),
        ("[dateTimeAdd('2020-04-07 14:53:14Z', '-P9D')]", "2020-03-29T14:53:14Z"),
        ("[dateTimeAdd('2020-04-07 14:53:14Z', 'PT1H')]", "2020-04-07T15:53:14Z"),
        ("[dateTimeAdd('2020-04-07T14:53:14Z', 'PT1H', 'yyyy-MM-dd HH:mm')]", "2020-04-07 15:53"),
        ("[dateTimeAdd('2020-04-07T14:53:14Z', 'P1D', 'u')]", "2020-04-08 14:53:14Z"),
        ("[dateTimeFromEpoch(1683040573)]", "2023-05-02T15:16:13Z"),
        ("[dateTimeToEpoch('2023-05-02T15:16:13Z')]", 1683040573),
        ("[dateTimeToEpoch(dateTimeFromEpoch(0))]", 0),
    ],
)
def test_date_functions(expression, expected):
    assert ev(expression) == expected


def test_bad_duration():
    with pytest.raises(TemplateError, match="duration"):
        ev("[dateTimeAdd('2020-01-01T00:00:00Z', 'one day')]")


def test_utc_now_and_new_guid_only_in_parameter_defaults():
    pinned = datetime(2019, 3, 5, 17, 53, 18, tzinfo=UTC)
    options = EngineOptions(now=pinned, new_guid=lambda: "22222222-2222-2222-2222-222222222222")
    template = {"parameters": {
        "utcValue": {"type": "string", "defaultValue": "[utcNow()]"},
        "utcShortValue": {"type": "string", "defaultValue": "[utcNow('d')]"},
        "utcCustomValue": {"type": "string", "defaultValue": "[utcNow('M d')]"},
        "utcU": {"type": "string", "defaultValue": "[utcNow('u')]"},
        "id": {"type": "string", "defaultValue": "[newGuid()]"},
    }}
    got = ev("[createArray(parameters('utcValue'), parameters('utcShortValue'), parameters('utcCustomValue'), "
             "parameters('utcU'), parameters('id'))]", template=template, options=options)
    assert got == ["20190305T175318Z", "03/05/2019", "3 5", "2019-03-05 17:53:18Z",
                   "22222222-2222-2222-2222-222222222222"]
    with pytest.raises(TemplateError, match="utcNow"):
        ev("[utcNow()]")
    with pytest.raises(TemplateError, match="newGuid"):
        ev("[newGuid()]")


# --------------------------------------------------------------------------- lambdas


LAMBDA_TEMPLATE = {"variables": {"dogs": [
    {"name": "Evie", "age": 5, "interests": ["Ball", "Frisbee"]},
    {"name": "Casper", "age": 3, "interests": ["Other dogs"]},
    {"name": "Indy", "age": 2, "interests": ["Butter"]},
    {"name": "Kira", "age": 8, "interests": ["Rubs"]},
]}}


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("[filter(variables('dogs'), lambda('dog', greaterOrEquals(lambdaVariables('dog').age, 5)))]",
         ["Evie", "Kira"]),
        ("[map(variables('dogs'), lambda('dog', lambdaVariables('dog').name))]", ["Evie", "Casper", "Indy", "Kira"]),
        ("[map(variables('dogs'), lambda('dog', 'i', "
         "concat(string(lambdaVariables('i')), lambdaVariables('dog').name)))]",
         ["0Evie", "1Casper", "2Indy", "3Kira"]),
        ("[reduce(map(variables('dogs'), lambda('d', lambdaVariables('d').age)), 0, "
         "lambda('cur', 'next', add(lambdaVariables('cur'), lambdaVariables('next'))))]", 18),
        ("[sort(variables('dogs'), lambda('a', 'b', less(lambdaVariables('a').age, lambdaVariables('b').age)))]",
         ["Indy", "Casper", "Evie", "Kira"]),
        ("[toObject(variables('dogs'), lambda('d', lambdaVariables('d').name), lambda('d', lambdaVariables('d').age))]",
         {"Evie": 5, "Casper": 3, "Indy": 2, "Kira": 8}),
        ("[objectKeys(groupBy(variables('dogs'), "
         "lambda('d', if(greater(lambdaVariables('d').age, 4), 'old', 'young'))))]",
         ["old", "young"]),
        ("[mapValues(createObject('a', 1, 'b', 2), lambda('v', mul(lambdaVariables('v'), 10)))]", {"a": 10, "b": 20}),
        ("[reduce(createArray(createObject('a', 1), createObject('b', 2)), createObject(), "
         "lambda('cur', 'next', union(lambdaVariables('cur'), lambdaVariables('next'))))]", {"a": 1, "b": 2}),
    ],
)
def test_lambda_functions(expression, expected):
    result = ev(expression, template={k: dict(v) for k, v in LAMBDA_TEMPLATE.items()})
    if isinstance(result, list) and result and isinstance(result[0], dict):
        result = [d["name"] for d in result]
    assert result == expected


def test_lambda_variable_outside_lambda():
    with pytest.raises(TemplateError, match="inside a lambda"):
        ev("[lambdaVariables('x')]")


def test_lambda_arity_checked():
    with pytest.raises(TemplateError, match="parameter"):
        ev("[sort(createArray(1), lambda('a', true()))]")


# --------------------------------------------------------------------------- CIDR


def test_parse_cidr():
    assert ev("[parseCidr('10.144.0.0/20')]") == {
        "network": "10.144.0.0", "netmask": "255.255.240.0", "broadcast": "10.144.15.255",
        "firstUsable": "10.144.0.1", "lastUsable": "10.144.15.254", "cidr": 20}
    assert ev("[parseCidr('fdad:3236:5555::/48')]") == {
        "network": "fdad:3236:5555::", "netmask": "ffff:ffff:ffff::", "firstUsable": "fdad:3236:5555::",
        "lastUsable": "fdad:3236:5555:ffff:ffff:ffff:ffff:ffff", "cidr": 48}


def test_cidr_subnet_and_host():
    assert [ev(f"[cidrSubnet('10.144.0.0/20', 24, {i})]") for i in range(3)] == [
        "10.144.0.0/24", "10.144.1.0/24", "10.144.2.0/24"]
    assert ev("[cidrSubnet('fdad:3236:5555::/48', 52, 1)]") == "fdad:3236:5555:1000::/52"
    assert [ev(f"[cidrHost('10.144.3.0/24', {i})]") for i in range(2)] == ["10.144.3.1", "10.144.3.2"]
    assert ev("[cidrHost('fdad:3236:5555:3000::/52', 0)]") == "fdad:3236:5555:3000::1"
    with pytest.raises(TemplateError, match="out of range"):
        ev("[cidrSubnet('10.0.0.0/24', 25, 2)]")


# --------------------------------------------------------------------------- deployment and scope values


def test_scope_objects():
    assert ev("[resourceGroup()]") == {"id": RG_ID, "name": "rg1", "type": "Microsoft.Resources/resourceGroups",
                                       "location": "westus", "tags": {},
                                       "properties": {"provisioningState": "Succeeded"}}
    assert ev("[subscription().id]") == f"/subscriptions/{SUB}"
    assert ev("[subscription().subscriptionId]") == SUB
    assert ev("[subscription().tenantId]") == TENANT
    assert ev("[tenant().tenantId]") == TENANT
    assert ev("[environment().suffixes.storage]") == "core.windows.net"
    assert ev("[environment().name]") == "AzureCloud"
    assert ev("[deployment().name]") == "deploy1"
    assert ev("[deployment().properties.template.contentVersion]") == "1.0.0.0"
    assert ev("[deployer().tenantId]") == TENANT


def test_deployment_template_link_absent_when_inline():
    with pytest.raises(TemplateError, match="'templateLink' doesn't exist"):
        ev("[deployment().properties.templateLink]")


def test_deployment_object_is_reduced_in_v2():
    template = {"languageVersion": "2.0", "resources": {}}
    assert ev("[deployment()]", template=template) == {"name": "deploy1",
                                                       "properties": {"template": {"contentVersion": "1.0.0.0"}}}


def test_resource_group_not_available_at_subscription_scope():
    with pytest.raises(TemplateError, match="resourceGroup"):
        ev("[resourceGroup().id]", group=None)


def test_copy_index_outside_loop():
    with pytest.raises(TemplateError, match="copyIndex"):
        ev("[copyIndex()]")


# --------------------------------------------------------------------------- resource ids and runtime lookups


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("[resourceId('Microsoft.Devices/IotHubs', 'hub')]", f"{RG_ID}/providers/Microsoft.Devices/IotHubs/hub"),
        ("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet', 'sub1')]",
         f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/sub1"),
        ("[resourceId('Microsoft.Network/networkSecurityGroups/', 'nsg')]",
         f"{RG_ID}/providers/Microsoft.Network/networkSecurityGroups/nsg"),
        ("[resourceId('otherRg', 'Microsoft.Devices/IotHubs', 'hub')]",
         f"/subscriptions/{SUB}/resourceGroups/otherRg/providers/Microsoft.Devices/IotHubs/hub"),
        ("[resourceId('sub2', 'rg2', 'Microsoft.Devices/IotHubs', 'hub')]",
         "/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.Devices/IotHubs/hub"),
        ("[resourceId('Microsoft.Devices/Iothubs/Iothubkeys', 'hub', 'iothubowner')]",
         f"{RG_ID}/providers/Microsoft.Devices/Iothubs/hub/Iothubkeys/iothubowner"),
        ("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'abc')]",
         f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/abc"),
        ("[subscriptionResourceId('sub9', 'Microsoft.Authorization/roleDefinitions', 'abc')]",
         "/subscriptions/sub9/providers/Microsoft.Authorization/roleDefinitions/abc"),
        ("[tenantResourceId('Microsoft.Authorization/policyDefinitions', 'p')]",
         "/providers/Microsoft.Authorization/policyDefinitions/p"),
        ("[extensionResourceId(resourceGroup().id, 'Microsoft.Authorization/locks', 'lock')]",
         f"{RG_ID}/providers/Microsoft.Authorization/locks/lock"),
        ("[managementGroupResourceId('mg1', 'Microsoft.Authorization/policyDefinitions', 'p')]",
         "/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/policyDefinitions/p"),
    ],
)
def test_resource_ids(expression, expected):
    assert ev(expression) == expected


def test_resource_id_segment_mismatch():
    with pytest.raises(TemplateError, match="segment"):
        ev("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet')]")


def test_resource_id_at_subscription_scope():
    assert ev("[resourceId('Microsoft.Authorization/roleDefinitions', 'r')]", group=None) == \
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/r"


def test_reference_and_list_keys_on_existing_resources():
    host = FakeHost()
    host.add_group("rg1")
    hub_id = f"{RG_ID}/providers/Microsoft.Devices/IotHubs/hub"
    host.put_resource(hub_id, {"location": "westus", "sku": {"name": "S1", "capacity": 1}}, "2021-07-02")
    assert ev(f"[reference('{hub_id}', '2021-07-02').hostName]", host=host) == "hub.azure-devices.net"
    full = ev(f"[reference('{hub_id}', '2021-07-02', 'Full')]", host=host)
    assert full["location"] == "westus" and full["sku"]["capacity"] == 1
    assert full["properties"]["hostName"] == "hub.azure-devices.net"
    keys = ev(f"[listKeys('{hub_id}', '2021-07-02').value[0]]", host=host)
    assert keys["keyName"] == "iothubowner" and keys["primaryKey"]
    single = ev("[listkeys(resourceId('Microsoft.Devices/Iothubs/Iothubkeys', 'hub', 'iothubowner'), "
                "'2020-03-01').primaryKey]", host=host)
    assert single == keys["primaryKey"]


def test_reference_to_missing_resource():
    with pytest.raises(TemplateError) as info:
        ev(f"[reference('{RG_ID}/providers/Microsoft.Devices/IotHubs/nothere', '2021-07-02')]")
    assert info.value.code == "ResourceNotFound"
    assert "Microsoft.Devices/IotHubs/nothere" in info.value.message


def test_reference_not_allowed_in_names():
    template = {"resources": [{"type": "Microsoft.Devices/IotHubs", "apiVersion": "2021-07-02",
                               "name": f"[reference('{RG_ID}/providers/X.Y/z/a', '1').n]"}]}
    with pytest.raises(TemplateError, match="'reference' is not expected"):
        ev("x", template=template)


def test_pick_zones():
    assert ev("[pickZones('Microsoft.Compute', 'virtualMachines', 'westus2')]") == ["1"]
    assert ev("[pickZones('Microsoft.Compute', 'virtualMachines', 'westus2', 2, 1)]") == ["2", "3"]
