"""Array and object functions (research §5.5) plus the ones that work on strings and arrays alike."""

from __future__ import annotations

from typing import Any

from provider.templates.context import EvalContext
from provider.templates.functions._registry import arg_dict, arg_int, arg_list, builtin, fail_arg, fn_error
from provider.templates.values import deep_equals, get_ci, has_key_ci, is_int, is_number, type_name


@builtin("array", 1, 1)
def _array(ctx: EvalContext, args: list) -> list:
    value = args[0]
    return value if isinstance(value, list) else [value]


@builtin("createArray", 0)
def _create_array(ctx: EvalContext, args: list) -> list:
    return list(args)


@builtin("createObject", 0)
def _create_object(ctx: EvalContext, args: list) -> dict:
    if len(args) % 2:
        raise fn_error("createObject", "it needs an even number of arguments (key, value pairs).")
    out: dict[str, Any] = {}
    for i in range(0, len(args), 2):
        key = args[i]
        if not isinstance(key, str):
            raise fail_arg("createObject", i, "String", key)
        out[key] = args[i + 1]
    return out


@builtin("range", 2, 2)
def _range(ctx: EvalContext, args: list) -> list[int]:
    start = arg_int("range", args, 0)
    count = arg_int("range", args, 1)
    if count < 0 or count > 10000:
        raise fn_error("range", f"the count must be between 0 and 10000, but is {count}.")
    if start + count > 2147483647:
        raise fn_error("range", "the sum of start index and count must not exceed 2147483647.")
    return list(range(start, start + count))


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        existing_key = next((k for k in out if k.lower() == key.lower()), None)
        if existing_key is not None and isinstance(out[existing_key], dict) and isinstance(value, dict):
            out[existing_key] = _merge(out[existing_key], value)
        else:
            if existing_key is not None and existing_key != key:
                del out[existing_key]
            out[key] = value
    return out


@builtin("union", 1)
def _union(ctx: EvalContext, args: list) -> Any:
    present = [a for a in args if a is not None]
    if present and all(isinstance(a, dict) for a in present):
        result: dict = {}
        for obj in present:
            result = _merge(result, obj)
        return result
    if all(isinstance(a, list) for a in present):
        out: list = []
        for arr in present:
            for item in arr:
                if not any(deep_equals(item, seen) for seen in out):
                    out.append(item)
        return out
    raise fn_error("union", "all arguments must be arrays, or all must be objects.")


@builtin("intersection", 2)
def _intersection(ctx: EvalContext, args: list) -> Any:
    if all(isinstance(a, dict) for a in args):
        first = args[0]
        return {k: v for k, v in first.items()
                if all(has_key_ci(o, k) and deep_equals(get_ci(o, k), v) for o in args[1:])}
    if all(isinstance(a, list) for a in args):
        out: list = []
        for item in args[0]:
            if all(any(deep_equals(item, x) for x in other) for other in args[1:]) and \
                    not any(deep_equals(item, x) for x in out):
                out.append(item)
        return out
    raise fn_error("intersection", "all arguments must be arrays, or all must be objects.")


def _numbers(fn: str, args: list) -> list:
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not values:
        raise fn_error(fn, "it needs at least one number.")
    for i, value in enumerate(values):
        if not is_number(value):
            raise fail_arg(fn, i, "Integer", value)
    return values


@builtin("min", 1)
def _min(ctx: EvalContext, args: list) -> Any:
    return min(_numbers("min", args))


@builtin("max", 1)
def _max(ctx: EvalContext, args: list) -> Any:
    return max(_numbers("max", args))


@builtin("flatten", 1, 1)
def _flatten(ctx: EvalContext, args: list) -> list:
    out: list = []
    for i, item in enumerate(arg_list("flatten", args, 0)):
        if isinstance(item, list):
            out.extend(item)
        elif item is None:
            continue
        else:
            raise fn_error("flatten", f"element {i} is of type '{type_name(item)}', not 'Array'.")
    return out


@builtin("items", 1, 1)
def _items(ctx: EvalContext, args: list) -> list[dict]:
    obj = arg_dict("items", args, 0)
    return [{"key": k, "value": obj[k]} for k in sorted(obj, key=lambda k: (k.lower(), k))]


@builtin("objectKeys", 1, 1)
def _object_keys(ctx: EvalContext, args: list) -> list[str]:
    return list(arg_dict("objectKeys", args, 0).keys())


@builtin("shallowMerge", 1, 1)
def _shallow_merge(ctx: EvalContext, args: list) -> dict:
    out: dict = {}
    for i, obj in enumerate(arg_list("shallowMerge", args, 0)):
        if obj is None:
            continue
        if not isinstance(obj, dict):
            raise fn_error("shallowMerge", f"element {i} is of type '{type_name(obj)}', not 'Object'.")
        for key, value in obj.items():
            for existing in [k for k in out if k.lower() == key.lower() and k != key]:
                del out[existing]
            out[key] = value
    return out


def _try_step(value: Any, key: Any) -> tuple[bool, Any]:
    if isinstance(value, dict) and isinstance(key, str):
        return (True, get_ci(value, key)) if has_key_ci(value, key) else (False, None)
    if isinstance(value, list) and is_int(key):
        return (True, value[key]) if 0 <= key < len(value) else (False, None)
    return False, None


@builtin("tryGet", 2)
def _try_get(ctx: EvalContext, args: list) -> Any:
    value = args[0]
    for key in args[1:]:
        if value is None:
            return None
        found, value = _try_step(value, key)
        if not found:
            return None
    return value


@builtin("indexFromEnd", 2, 2)
def _index_from_end(ctx: EvalContext, args: list) -> Any:
    items = arg_list("indexFromEnd", args, 0)
    index = arg_int("indexFromEnd", args, 1)
    if index < 1 or index > len(items):
        raise fn_error("indexFromEnd", f"the index {index} is out of range for an array of length {len(items)}.")
    return items[-index]


@builtin("tryIndexFromEnd", 2, 2)
def _try_index_from_end(ctx: EvalContext, args: list) -> Any:
    items = args[0]
    index = args[1]
    if not isinstance(items, list) or not is_int(index) or index < 1 or index > len(items):
        return None
    return items[-index]


# ---------------------------------------------------------------------------------------------
# functions over strings, arrays and objects


@builtin("contains", 2, 2)
def _contains(ctx: EvalContext, args: list) -> bool:
    container, item = args
    if isinstance(container, str):
        if not isinstance(item, str):
            item = str(item) if is_int(item) else item
        if not isinstance(item, str):
            raise fail_arg("contains", 1, "String", item)
        return item in container
    if isinstance(container, list):
        return any(deep_equals(item, x) for x in container)
    if isinstance(container, dict):
        if not isinstance(item, str):
            raise fail_arg("contains", 1, "String", item)
        return has_key_ci(container, item)
    if container is None:
        return False
    raise fail_arg("contains", 0, "String, Array or Object", container)


@builtin("empty", 1, 1)
def _empty(ctx: EvalContext, args: list) -> bool:
    value = args[0]
    if value is None:
        return True
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    raise fail_arg("empty", 0, "String, Array or Object", value)


@builtin("length", 1, 1)
def _length(ctx: EvalContext, args: list) -> int:
    value = args[0]
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise fail_arg("length", 0, "String, Array or Object", value)


@builtin("first", 1, 1)
def _first(ctx: EvalContext, args: list) -> Any:
    value = args[0]
    if isinstance(value, str):
        return value[:1]
    if isinstance(value, list):
        return value[0] if value else None
    raise fail_arg("first", 0, "String or Array", value)


@builtin("last", 1, 1)
def _last(ctx: EvalContext, args: list) -> Any:
    value = args[0]
    if isinstance(value, str):
        return value[-1:]
    if isinstance(value, list):
        return value[-1] if value else None
    raise fail_arg("last", 0, "String or Array", value)


@builtin("take", 2, 2)
def _take(ctx: EvalContext, args: list) -> Any:
    value = args[0]
    count = arg_int("take", args, 1)
    if not isinstance(value, (str, list)):
        raise fail_arg("take", 0, "String or Array", value)
    return value[: max(count, 0)]


@builtin("skip", 2, 2)
def _skip(ctx: EvalContext, args: list) -> Any:
    value = args[0]
    count = arg_int("skip", args, 1)
    if not isinstance(value, (str, list)):
        raise fail_arg("skip", 0, "String or Array", value)
    return value[max(count, 0):]


def _index_of(fn: str, args: list, last: bool) -> int:
    container, item = args
    if isinstance(container, str):
        if not isinstance(item, str):
            raise fail_arg(fn, 1, "String", item)
        haystack, needle = container.lower(), item.lower()
        return haystack.rfind(needle) if last else haystack.find(needle)
    if isinstance(container, list):
        positions = range(len(container) - 1, -1, -1) if last else range(len(container))
        for i in positions:
            if deep_equals(container[i], item):
                return i
        return -1
    raise fail_arg(fn, 0, "String or Array", container)


@builtin("indexOf", 2, 2)
def _index_of_fn(ctx: EvalContext, args: list) -> int:
    return _index_of("indexOf", args, last=False)


@builtin("lastIndexOf", 2, 2)
def _last_index_of_fn(ctx: EvalContext, args: list) -> int:
    return _index_of("lastIndexOf", args, last=True)
